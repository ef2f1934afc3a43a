using ILGPU;
using ILGPU.Runtime;

namespace Tessera.Engine.Gpu;

/// <summary>
/// The kernels, in ILGPU's C# subset (static, no allocation, no exceptions): compiled to PTX for CUDA, run as they are
/// by the CPU stand-in. Every grouped kernel runs one warp of 32 lanes per group. They follow the CPU engine's
/// arithmetic (llama.cpp's): activations quantized to Q8_0 with an f16 scale before quantized products, exact integer
/// sums per block, one fused multiply-add per block; only the order in which a row's blocks are added differs (lanes
/// take blocks in turn, then a tree of shuffles), so results agree to float rounding, not to the bit.
/// </summary>
internal static class GpuKernels
{
    public const int Lanes = 32;
    public const int Q8_0BlockBytes = 34;
    public const int Q4_0BlockBytes = 18;

    /// <summary>The sum over the warp, in every lane.</summary>
    private static float WarpSum(float value)
    {
        for (var offset = Lanes / 2; offset > 0; offset /= 2)
            value += Warp.ShuffleXor(value, offset);
        return value;
    }

    private static float WarpMax(float value)
    {
        for (var offset = Lanes / 2; offset > 0; offset /= 2)
            value = MathF.Max(value, Warp.ShuffleXor(value, offset));
        return value;
    }

    /// <summary>An f16 (its bits) as float: exact for every value.</summary>
    public static float HalfToFloat(int bits)
    {
        var sign = (bits & 0x8000) << 16;
        var exponent = (bits >> 10) & 0x1F;
        var mantissa = bits & 0x3FF;
        if (exponent == 0)
        {
            var subnormal = mantissa * 5.9604645e-8f; // 2^-24
            return sign != 0 ? -subnormal : subnormal;
        }
        if (exponent == 31)
            return Interop.IntAsFloat((uint)(sign | 0x7F800000 | (mantissa << 13)));
        return Interop.IntAsFloat((uint)(sign | ((exponent + 112) << 23) | (mantissa << 13)));
    }

    /// <summary>The nearest f16 value (ties to even), as float: what the CPU's (float)(Half)x gives.</summary>
    public static float RoundToHalf(float x)
    {
        var bits = Interop.FloatAsInt(x);
        var sign = bits & 0x80000000u;
        var magnitude = bits & 0x7FFFFFFFu;
        if (magnitude >= 0x7F800000u)
            return x; // inf, NaN
        if (magnitude >= 0x477FF000u)
            return Interop.IntAsFloat(sign | 0x7F800000u); // rounds past 65504
        if (magnitude < 0x38800000u)
        {
            // Below the smallest normal f16: a multiple of 2^-24, rounded to nearest even.
            var scaled = Interop.IntAsFloat(magnitude) * 16777216f;
            var rounded = RoundEven(scaled) * 5.9604645e-8f;
            return sign != 0 ? -rounded : rounded;
        }
        var lsb = (magnitude >> 13) & 1u;
        magnitude = (magnitude + 0xFFFu + lsb) & 0xFFFFE000u;
        return Interop.IntAsFloat(sign | magnitude);
    }

    /// <summary>Nearest integer, ties to even (as the CPU's vector round), for |x| well below 2^23.</summary>
    public static float RoundEven(float x)
    {
        var floor = MathF.Floor(x);
        var diff = x - floor;
        if (diff > 0.5f)
            return floor + 1;
        if (diff < 0.5f)
            return floor;
        return ((int)floor & 1) == 0 ? floor : floor + 1;
    }

    /// <summary>
    /// Q8_0 activations: group b quantizes block b (32 values) of <paramref name="x"/>: quants in <paramref name="qs"/>,
    /// the f16-rounded scale in <paramref name="d"/>, as <c>ActivationQuant.QuantizeQ8_0</c> does.
    /// </summary>
    public static void QuantizeQ8_0(ArrayView<float> x, ArrayView<sbyte> qs, ArrayView<float> d)
    {
        var block = Grid.IdxX;
        var lane = Group.IdxX;
        var v = x[block * Lanes + lane];
        var amax = WarpMax(MathF.Abs(v));
        var id = amax > 0 ? 127f / amax : 0f;
        var q = RoundEven(v * id);
        q = MathF.Min(MathF.Max(q, -127f), 127f);
        qs[block * Lanes + lane] = (sbyte)(int)q;
        if (lane == 0)
            d[block] = amax > 0 ? RoundToHalf(amax / 127f) : 0f;
    }

    /// <summary>The quantized weight types of <see cref="MatVecQuant"/>.</summary>
    public const int KindQ8_0 = 0;
    public const int KindQ4_0 = 1;

    /// <summary>
    /// y[t, r] for Q8_0 or Q4_0 weights (<paramref name="kind"/>) against Q8_0 activations: group g is row g % rows of
    /// token g / rows; lanes take the row's blocks in turn. The kind is the same for every lane, so its branch costs
    /// nothing on a GPU.
    /// </summary>
    public static void MatVecQuant(ArrayView<byte> w, ArrayView<sbyte> qs, ArrayView<float> d, ArrayView<float> y, int rows, int cols, int kind)
    {
        var g = Grid.IdxX;
        var row = g % rows;
        var t = g / rows;
        var lane = Group.IdxX;
        var nb = cols / 32;
        var blockBytes = kind == KindQ8_0 ? Q8_0BlockBytes : Q4_0BlockBytes;
        var rowStart = (long)row * nb * blockBytes;
        var acc = 0f;
        for (var b = lane; b < nb; b += Lanes)
        {
            var o = rowStart + (long)b * blockBytes;
            var dw = HalfToFloat(w[o] | (w[o + 1] << 8));
            var a = (long)t * cols + 32 * b;
            var isum = kind == KindQ8_0 ? Q8_0Sum(w, o + 2, qs, a) : Q4_0Sum(w, o + 2, qs, a);
            acc = MathF.FusedMultiplyAdd(isum, dw * d[(long)t * nb + b], acc);
        }
        acc = WarpSum(acc);
        if (lane == 0)
            y[(long)t * rows + row] = acc;
    }

    /// <summary>A Q8_0 block's exact integer sum: its 32 signed quants (from <paramref name="q"/>) times the activations' (from <paramref name="a"/>).</summary>
    private static int Q8_0Sum(ArrayView<byte> w, long q, ArrayView<sbyte> qs, long a)
    {
        var isum = 0;
        for (var j = 0; j < 32; j++)
            isum += (sbyte)w[q + j] * qs[a + j];
        return isum;
    }

    /// <summary>A Q4_0 block's: quant j is byte j's low nibble minus 8, quant 16 + j its high nibble minus 8.</summary>
    private static int Q4_0Sum(ArrayView<byte> w, long q, ArrayView<sbyte> qs, long a)
    {
        var isum = 0;
        for (var j = 0; j < 16; j++)
        {
            int packed = w[q + j];
            isum += ((packed & 0xF) - 8) * qs[a + j] + ((packed >> 4) - 8) * qs[a + 16 + j];
        }
        return isum;
    }

    /// <summary>y[t, r] for F32 weights: lanes take the row's columns in turn.</summary>
    public static void MatVecF32(ArrayView<float> w, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        var g = Grid.IdxX;
        var row = g % rows;
        var t = g / rows;
        var lane = Group.IdxX;
        var acc = 0f;
        for (var k = lane; k < cols; k += Lanes)
            acc = MathF.FusedMultiplyAdd(w[(long)row * cols + k], x[(long)t * cols + k], acc);
        acc = WarpSum(acc);
        if (lane == 0)
            y[(long)t * rows + row] = acc;
    }

    /// <summary>y[t, r] for F16 weights (their bits): the input rounded to f16 first, as llama.cpp and the CPU engine do.</summary>
    public static void MatVecF16(ArrayView<ushort> w, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        var g = Grid.IdxX;
        var row = g % rows;
        var t = g / rows;
        var lane = Group.IdxX;
        var acc = 0f;
        for (var k = lane; k < cols; k += Lanes)
            acc = MathF.FusedMultiplyAdd(HalfToFloat(w[(long)row * cols + k]), RoundToHalf(x[(long)t * cols + k]), acc);
        acc = WarpSum(acc);
        if (lane == 0)
            y[(long)t * rows + row] = acc;
    }

    /// <summary>y = x / sqrt(mean(x^2) + eps) * weight for row Grid.IdxX (each group one token's row of <c>weight.Length</c> values).</summary>
    public static void RmsNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> y, float eps)
    {
        var width = (int)weight.Length;
        var start = (long)Grid.IdxX * width;
        var lane = Group.IdxX;
        var sum = 0f;
        for (var k = lane; k < width; k += Lanes)
        {
            var v = x[start + k];
            sum += v * v;
        }
        sum = WarpSum(sum);
        var scale = 1f / MathF.Sqrt(sum / width + eps);
        for (var k = lane; k < width; k += Lanes)
            y[start + k] = x[start + k] * scale * weight[k];
    }

    /// <summary>output = silu(gate) * up, element by element.</summary>
    public static void SwiGlu(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> output)
    {
        var g = gate[i];
        output[i] = g / (1f + MathF.Exp(-g)) * up[i];
    }
}
