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

    /// <summary>Adds the warp's partial sums and lane 0 writes the total to <paramref name="y"/>[<paramref name="at"/>].</summary>
    private static void StoreWarpSum(ArrayView<float> y, long at, float partial)
    {
        var sum = WarpSum(partial);
        if (Group.IdxX == 0)
            y[at] = sum;
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
        StoreWarpSum(y, (long)t * rows + row, acc);
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
        StoreWarpSum(y, (long)t * rows + row, acc);
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
        StoreWarpSum(y, (long)t * rows + row, acc);
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

    /// <summary>
    /// Embedding lookup: value i of the output is column i % cols of row <c>ids[i / cols]</c>, dequantized by
    /// <see cref="WeightAt"/> (any supported <paramref name="type"/>, a <see cref="Tensors.GgmlType"/>): the same bits
    /// as the CPU's dequantization.
    /// </summary>
    public static void GetRows(Index1D i, ArrayView<byte> w, ArrayView<int> ids, ArrayView<float> output, int cols, int rowBytes, int type)
    {
        int index = i;
        output[index] = WeightAt(w, (long)ids[index / cols] * rowBytes, index % cols, type);
    }

    // The ggml type numbers WeightAt reads (Tensors.GgmlType's values).
    public const int TypeF32 = 0;
    public const int TypeF16 = 1;
    public const int TypeQ4_0 = 2;
    public const int TypeQ8_0 = 8;
    public const int TypeQ5_0 = 6;
    public const int TypeQ4_K = 12;
    public const int TypeQ5_K = 13;
    public const int TypeQ6_K = 14;
    public const int TypeBF16 = 30;

    /// <summary>
    /// Rotary position embedding in place, one pair of one head of one row per index: rows of
    /// <c>heads * headDim</c> values, row t at position <paramref name="start"/> + t, angles from the host's table
    /// (<paramref name="cos"/>, <paramref name="sin"/>: positions x pairs). Pairs are adjacent values, or for
    /// <paramref name="neox"/> != 0 value i with value i + dims / 2, as <c>RopeTable.Apply</c> rotates them.
    /// </summary>
    public static void Rope(Index1D i, ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, int heads, int headDim, int pairs, int start, int neox)
    {
        int index = i;
        var pair = index % pairs;
        var head = index / pairs % heads;
        var t = index / (pairs * heads);
        var angle = (long)(start + t) * pairs + pair;
        var c = cos[angle];
        var s = sin[angle];
        var first = (long)t * heads * headDim + head * headDim + (neox != 0 ? pair : 2 * pair);
        var second = first + (neox != 0 ? pairs : 1);
        var x0 = x[first];
        var x1 = x[second];
        x[first] = x0 * c - x1 * s;
        x[second] = x0 * s + x1 * c;
    }

    /// <summary>
    /// Causal grouped-query attention for one sequence, one warp per (query row, head): query row t (at position
    /// start + t) attends to positions 0..start + t of <paramref name="keys"/> and <paramref name="values"/> (rows of
    /// kvHeads x headDim). In the CPU engine's numerics (llama.cpp's): the query rounded to f16, the soft max's
    /// probabilities rounded to f16 before they meet the values. So the scores are computed three times (the maximum,
    /// the sum, the weighted values) rather than kept: a reference kernel, to be tiled through shared memory for long
    /// contexts. Each lane keeps up to eight output values (head dimensions up to 256).
    /// </summary>
    public static void Attention(ArrayView<float> queries, ArrayView<float> keys, ArrayView<float> values, ArrayView<float> output,
        int start, int heads, int kvHeads, int headDim, float scale)
    {
        var g = Grid.IdxX;
        var head = g % heads;
        var t = g / heads;
        var lane = Group.IdxX;
        var kvHead = head / (heads / kvHeads);
        var kvWidth = kvHeads * headDim;
        var q = (long)t * heads * headDim + head * headDim;
        var visible = start + t + 1;
        var max = float.NegativeInfinity;
        for (var p = 0; p < visible; p++)
            max = MathF.Max(max, Score(queries, keys, q, (long)p * kvWidth + kvHead * headDim, headDim, lane, scale));
        var sum = 0f;
        for (var p = 0; p < visible; p++)
            sum += MathF.Exp(Score(queries, keys, q, (long)p * kvWidth + kvHead * headDim, headDim, lane, scale) - max);
        var inverse = 1f / sum;
        float o0 = 0, o1 = 0, o2 = 0, o3 = 0, o4 = 0, o5 = 0, o6 = 0, o7 = 0;
        for (var p = 0; p < visible; p++)
        {
            var row = (long)p * kvWidth + kvHead * headDim;
            var w = RoundToHalf(MathF.Exp(Score(queries, keys, q, row, headDim, lane, scale) - max) * inverse);
            var v = row + lane;
            o0 += lane < headDim ? w * values[v] : 0;
            o1 += lane + 32 < headDim ? w * values[v + 32] : 0;
            o2 += lane + 64 < headDim ? w * values[v + 64] : 0;
            o3 += lane + 96 < headDim ? w * values[v + 96] : 0;
            o4 += lane + 128 < headDim ? w * values[v + 128] : 0;
            o5 += lane + 160 < headDim ? w * values[v + 160] : 0;
            o6 += lane + 192 < headDim ? w * values[v + 192] : 0;
            o7 += lane + 224 < headDim ? w * values[v + 224] : 0;
        }
        var o = (long)t * heads * headDim + head * headDim + lane;
        if (lane < headDim) output[o] = o0;
        if (lane + 32 < headDim) output[o + 32] = o1;
        if (lane + 64 < headDim) output[o + 64] = o2;
        if (lane + 96 < headDim) output[o + 96] = o3;
        if (lane + 128 < headDim) output[o + 128] = o4;
        if (lane + 160 < headDim) output[o + 160] = o5;
        if (lane + 192 < headDim) output[o + 192] = o6;
        if (lane + 224 < headDim) output[o + 224] = o7;
    }

    /// <summary>One scaled score, in every lane: the query (rounded to f16) against the key row at <paramref name="k"/>.</summary>
    private static float Score(ArrayView<float> queries, ArrayView<float> keys, long q, long k, int headDim, int lane, float scale)
    {
        var dot = 0f;
        for (var j = lane; j < headDim; j += Lanes)
            dot += RoundToHalf(queries[q + j]) * keys[k + j];
        return WarpSum(dot) * scale;
    }


    /// <summary>
    /// Q8_K activations, as values: group b quantizes block b (256 values) of <paramref name="x"/> as the CPU engine
    /// does (scale -127 / the signed value of largest magnitude, the first such value on ties; halves to even) and
    /// writes quant x scale for each value into <paramref name="effective"/>. Each lane takes 8 values.
    /// </summary>
    public static void EffectiveQ8_K(ArrayView<float> x, ArrayView<float> effective)
    {
        var start = (long)Grid.IdxX * 256;
        var lane = Group.IdxX;
        var amax = 0f;
        var max = 0f;
        var at = 256;
        for (var j = lane * 8; j < lane * 8 + 8; j++)
        {
            var v = x[start + j];
            if (MathF.Abs(v) > amax)
            {
                amax = MathF.Abs(v);
                max = v;
                at = j;
            }
        }
        for (var offset = Lanes / 2; offset > 0; offset /= 2)
        {
            var otherAmax = Warp.ShuffleXor(amax, offset);
            var otherMax = Warp.ShuffleXor(max, offset);
            var otherAt = Warp.ShuffleXor(at, offset);
            if (otherAmax > amax || (otherAmax == amax && otherAt < at))
            {
                amax = otherAmax;
                max = otherMax;
                at = otherAt;
            }
        }
        var id = amax == 0 ? 0f : -127f / max;
        var d = amax == 0 ? 0f : 1f / id;
        for (var j = lane * 8; j < lane * 8 + 8; j++)
        {
            var q = MathF.Min(MathF.Max(RoundEven(x[start + j] * id), -127f), 127f);
            effective[start + j] = q * d;
        }
    }

    /// <summary>Q8_0 activations, as values: quant x its block's scale (from <see cref="QuantizeQ8_0"/>'s output).</summary>
    public static void EffectiveQ8_0(Index1D i, ArrayView<sbyte> qs, ArrayView<float> d, ArrayView<float> effective)
    {
        int index = i;
        effective[index] = qs[index] * d[index / 32];
    }

    /// <summary>
    /// y[t, r] for the types without a kernel of their own yet (Q5_0, Q4_K, Q5_K, Q6_K, BF16): each weight dequantized
    /// where it is read (<see cref="WeightAt"/>) against activations already rounded as the CPU engine's kernels
    /// round them (<paramref name="effective"/>: Q8_0 or Q8_K values, or the input itself for BF16). A reference: it
    /// decodes a block's scales for every value; it agrees with the CPU's integer sums to float rounding.
    /// </summary>
    public static void MatVecDequant(ArrayView<byte> w, ArrayView<float> effective, ArrayView<float> y, int rows, int cols, int rowBytes, int type)
    {
        var g = Grid.IdxX;
        var row = g % rows;
        var t = g / rows;
        var lane = Group.IdxX;
        var rowStart = (long)row * rowBytes;
        var acc = 0f;
        for (var k = lane; k < cols; k += Lanes)
            acc = MathF.FusedMultiplyAdd(WeightAt(w, rowStart, k, type), effective[(long)t * cols + k], acc);
        StoreWarpSum(y, (long)t * rows + row, acc);
    }

    /// <summary>
    /// Weight <paramref name="col"/> of the row at <paramref name="rowStart"/>, dequantized as ReferenceQuant does (same
    /// operations, same order) for every type the kernels support: the embedding lookup and the reference product.
    /// </summary>
    private static float WeightAt(ArrayView<byte> w, long rowStart, int col, int type)
    {
        if (type == TypeF32)
        {
            var o = rowStart + 4L * col;
            return Interop.IntAsFloat((uint)(w[o] | (w[o + 1] << 8) | (w[o + 2] << 16) | (w[o + 3] << 24)));
        }
        if (type == TypeF16)
        {
            var o = rowStart + 2L * col;
            return HalfToFloat(w[o] | (w[o + 1] << 8));
        }
        if (type == TypeQ8_0)
        {
            var o = rowStart + (long)(col / 32) * Q8_0BlockBytes;
            return HalfToFloat(w[o] | (w[o + 1] << 8)) * (sbyte)w[o + 2 + col % 32];
        }
        if (type == TypeQ4_0)
        {
            var o = rowStart + (long)(col / 32) * Q4_0BlockBytes;
            var j = col % 32;
            int packed = w[o + 2 + j % 16];
            return HalfToFloat(w[o] | (w[o + 1] << 8)) * ((j < 16 ? packed & 0xF : packed >> 4) - 8);
        }
        if (type == TypeBF16)
        {
            var o = rowStart + 2L * col;
            return Interop.IntAsFloat((uint)((w[o] | (w[o + 1] << 8)) << 16));
        }
        if (type == TypeQ5_0)
        {
            var o = rowStart + (long)(col / 32) * 22;
            var j = col % 32;
            var qh = w[o + 2] | (w[o + 3] << 8) | (w[o + 4] << 16) | (w[o + 5] << 24);
            int packed = w[o + 6 + j % 16];
            var q = ((j < 16 ? packed & 0xF : packed >> 4) | (((qh >> j) & 1) << 4)) - 16;
            return q * HalfToFloat(w[o] | (w[o + 1] << 8));
        }
        if (type == TypeQ6_K)
        {
            var o = rowStart + (long)(col / 256) * 210;
            var e = col % 256;
            var h = e / 128;
            var k = e % 128 / 32;
            var l = e % 32;
            int low = w[o + 64 * h + l + 32 * (k & 1)];
            var nibble = k < 2 ? low & 0xF : low >> 4;
            var high = (w[o + 128 + 32 * h + l] >> (2 * k)) & 3;
            var d = HalfToFloat(w[o + 208] | (w[o + 209] << 8));
            return d * (sbyte)w[o + 192 + e / 16] * ((nibble | (high << 4)) - 32);
        }
        // Q4_K and Q5_K: f16 d and dmin, 12 bytes of 6-bit scales and mins, (Q5_K: 32 bytes of fifth bits), quants.
        var block = rowStart + (long)(col / 256) * (type == TypeQ4_K ? 144 : 176);
        var v = col % 256;
        var c = v / 64;
        var upper = v % 64 >= 32;
        var lane = v % 32;
        var sub = 2 * c + (upper ? 1 : 0);
        var scales = block + 4;
        int scale, min;
        if (sub < 4)
        {
            scale = w[scales + sub] & 63;
            min = w[scales + sub + 4] & 63;
        }
        else
        {
            scale = (w[scales + sub + 4] & 0xF) | ((w[scales + sub - 4] >> 6) << 4);
            min = (w[scales + sub + 4] >> 4) | ((w[scales + sub] >> 6) << 4);
        }
        var quantStart = block + (type == TypeQ4_K ? 16 : 48);
        int packedK = w[quantStart + 32 * c + lane];
        var quant = upper ? packedK >> 4 : packedK & 0xF;
        if (type == TypeQ5_K)
            quant |= ((w[block + 16 + lane] >> sub) & 1) << 4;
        var dK = HalfToFloat(w[block] | (w[block + 1] << 8));
        var dmin = HalfToFloat(w[block + 2] | (w[block + 3] << 8));
        return dK * scale * quant - dmin * min;
    }

    /// <summary>output = silu(gate) * up, element by element.</summary>
    public static void SwiGlu(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> output)
    {
        var g = gate[i];
        output[i] = g / (1f + MathF.Exp(-g)) * up[i];
    }

    /// <summary>y = a + b, element by element.</summary>
    public static void Add(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] + b[i];

    /// <summary>Adds <paramref name="bias"/> to every row (of its length) of <paramref name="rows"/>.</summary>
    public static void AddBias(Index1D i, ArrayView<float> rows, ArrayView<float> bias) => rows[i] += bias[i % bias.IntLength];

    /// <summary>Rounds each value to the nearest f16 in place (the KV cache's values).</summary>
    public static void RoundHalfInPlace(Index1D i, ArrayView<float> x) => x[i] = RoundToHalf(x[i]);

    /// <summary>Rounds each value to the nearest bf16 in place, ties to even on the dropped bits, as the CPU engine does.</summary>
    public static void RoundBFloat16InPlace(Index1D i, ArrayView<float> x)
    {
        var bits = Interop.FloatAsInt(x[i]);
        if ((bits & 0x7F800000u) != 0x7F800000u)
            bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
        x[i] = Interop.IntAsFloat(bits);
    }
}
