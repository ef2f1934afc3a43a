using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>
/// Activation rows quantized for the integer dot products, one token per region of <c>Stride</c> bytes.
/// The result is the same whichever kernel path runs (max-abs scale, round half to even), so every path sees the
/// same activations.
/// </summary>
/// <remarks>
/// Q8_0 layout of one token (nb = cols / 32 blocks), every part 64-byte aligned:
/// qs: cols x i8; d: nb x f32; dv: nb x 8 x f32 (d repeated, for 512-bit scale vectors);
/// sv: nb x 8 x i32 (lane k: the sum of quants 4k..4k+3 of the block, for offset corrections lane by lane);
/// o8: nb x i32 (8 x the sum of the block's quants: Q4_0's nibble offset of 8 taken off a whole block at once);
/// s: nb x f32 (Q8_1's s: f16(d x the sum of the block's quants), d before its f16 rounding; Q4_1 and Q5_1 weights' minimum meets it).
/// Q8_K layout of one token (nb = cols / 256 super-blocks): qs: cols x i8; d: nb x f32; bsums: nb x 16 x i16.
/// </remarks>
internal static unsafe class ActivationQuant
{
    public static nint Q8_0Stride(int cols)
    {
        var nb = cols / 32;
        return Align(cols) + Align(nb * 4) + Align(nb * 32) + Align(nb * 32) + Align(nb * 4) + Align(nb * 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte* Q8_0Qs(byte* token) => (sbyte*)token;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float* Q8_0D(byte* token, int cols) => (float*)(token + Align(cols));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float* Q8_0Dv(byte* token, int cols) => (float*)(token + Align(cols) + Align(cols / 32 * 4));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int* Q8_0Sv(byte* token, int cols) =>
        (int*)(token + Align(cols) + Align(cols / 32 * 4) + Align(cols / 32 * 32));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int* Q8_0O8(byte* token, int cols) =>
        (int*)(token + Align(cols) + Align(cols / 32 * 4) + 2 * Align(cols / 32 * 32));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float* Q8_1S(byte* token, int cols) =>
        (float*)(token + Align(cols) + 2 * Align(cols / 32 * 4) + 2 * Align(cols / 32 * 32));

    /// <summary>
    /// F16 layout of one token (for F16 weights, which meet activations as f16 as in llama.cpp): the values rounded to
    /// f16, first as f32 (cols x 4 bytes, read by the multi-token float kernels) then as f16 (cols x 2 bytes, read by
    /// the one-token kernel: half the cache footprint, so a long row's activations stay in L1 while weights stream).
    /// </summary>
    public static nint F16Stride(int cols) => Align(cols * 4) + Align(cols * 2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort* F16Halves(byte* token, int cols) => (ushort*)(token + Align(cols * 4));

    /// <summary>Rounds one row of <paramref name="cols"/> floats to f16 into the F16 layout.</summary>
    public static void ConvertF16(float* x, int cols, byte* token)
    {
        var halves = new Span<Half>(F16Halves(token, cols), cols);
        System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(new ReadOnlySpan<float>(x, cols), halves);
        System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(halves, new Span<float>(token, cols));
    }

    public static nint Q8_KStride(int cols)
    {
        var nb = cols / 256;
        return Align(cols) + Align(nb * 4) + Align(nb * 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte* Q8_KQs(byte* token) => (sbyte*)token;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float* Q8_KD(byte* token, int cols) => (float*)(token + Align(cols));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static short* Q8_KBsums(byte* token, int cols) => (short*)(token + Align(cols) + Align(cols / 256 * 4));

    /// <summary>Quantizes one row of <paramref name="cols"/> floats (a multiple of 32) to the Q8_0 layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeQ8_0(float* x, int cols, byte* token)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            QuantizeQ8_0Scalar(x, cols, token);
            return;
        }

        // Runs once per matrix product on one thread while the others wait, so it is vectorized: one pass per block
        // computes the quants and every derived copy. Bit-identical to QuantizeQ8_0Scalar.
        var qs = Q8_0Qs(token);
        var d = Q8_0D(token, cols);
        var dv = Q8_0Dv(token, cols);
        var sv = Q8_0Sv(token, cols);
        var o8 = Q8_0O8(token, cols);
        var s = Q8_1S(token, cols);
        var min = Vector256.Create(-127);
        var max = Vector256.Create(127);
        for (var b = 0; b < cols / 32; b++)
        {
            var p = x + 32 * b;
            Vector256<float> v0 = Vector256.Load(p), v1 = Vector256.Load(p + 8), v2 = Vector256.Load(p + 16), v3 = Vector256.Load(p + 24);
            var amax = MaxLane(Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3))));
            float id = 0, scale = 0;
            if (amax > 0)
            {
                id = 127f / amax;
                scale = (float)(Half)(amax / 127f);
            }
            var vid = Vector256.Create(id);
            var r0 = Vector256.Clamp(Vector256.ConvertToInt32(Vector256.Round(v0 * vid)), min, max);
            var r1 = Vector256.Clamp(Vector256.ConvertToInt32(Vector256.Round(v1 * vid)), min, max);
            var r2 = Vector256.Clamp(Vector256.ConvertToInt32(Vector256.Round(v2 * vid)), min, max);
            var r3 = Vector256.Clamp(Vector256.ConvertToInt32(Vector256.Round(v3 * vid)), min, max);
            var q8 = Vector256.Narrow(Vector256.Narrow(r0, r1), Vector256.Narrow(r2, r3)); // order-preserving
            q8.Store(qs + 32 * b);
            d[b] = scale;
            Vector256.Create(scale).Store(dv + 8 * b);
            // Lane k: the sum of quants 4k..4k+3, matching the lanes of the block kernels' integer products.
            var h = Avx2.HorizontalAdd(Avx2.HorizontalAdd(r0, r1), Avx2.HorizontalAdd(r2, r3));
            Avx2.PermuteVar8x32(h, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).Store(sv + 8 * b);
            o8[b] = 8 * Vector256.Sum(h);
            s[b] = (float)(Half)(amax / 127f * Vector256.Sum(h));
        }
    }

    /// <summary>The portable form of <see cref="QuantizeQ8_0"/> (and its reference in tests).</summary>
    internal static void QuantizeQ8_0Scalar(float* x, int cols, byte* token)
    {
        var qs = Q8_0Qs(token);
        var d = Q8_0D(token, cols);
        var dv = Q8_0Dv(token, cols);
        var sv = Q8_0Sv(token, cols);
        var o8 = Q8_0O8(token, cols);
        var s = Q8_1S(token, cols);
        for (var b = 0; b < cols / 32; b++)
        {
            var scale = QuantizeGroup(x + 32 * b, 32, qs + 32 * b, kQuant: false);
            d[b] = scale;
            o8[b] = 0;
            float amax = 0;
            for (var j = 0; j < 32; j++)
                amax = Math.Max(amax, MathF.Abs(x[32 * b + j]));
            var sum = 0;
            for (var j = 0; j < 32; j++)
                sum += qs[32 * b + j];
            s[b] = (float)(Half)(amax / 127f * sum);
            for (var j = 0; j < 8; j++)
            {
                dv[8 * b + j] = scale;
                sv[8 * b + j] = qs[32 * b + 4 * j] + qs[32 * b + 4 * j + 1] + qs[32 * b + 4 * j + 2] + qs[32 * b + 4 * j + 3];
                o8[b] += 8 * sv[8 * b + j];
            }
        }
    }

    /// <summary>Quantizes one row of <paramref name="cols"/> floats (a multiple of 256) to the Q8_K layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeQ8_K(float* x, int cols, byte* token)
    {
        var qs = Q8_KQs(token);
        var d = Q8_KD(token, cols);
        var bsums = Q8_KBsums(token, cols);
        for (var b = 0; b < cols / 256; b++)
        {
            d[b] = QuantizeGroup(x + 256 * b, 256, qs + 256 * b, kQuant: true);
            for (var g = 0; g < 16; g++)
            {
                var sum = 0;
                for (var j = 0; j < 16; j++)
                    sum += qs[256 * b + 16 * g + j];
                bsums[16 * b + g] = (short)sum;
            }
        }
    }

    /// <summary>
    /// Quantizes a group the way llama.cpp does, so results agree with it closely: Q8_0 uses
    /// id = 127 / max|x| and keeps the scale rounded to f16 (block_q8_0 stores it as f16); Q8_K uses
    /// iscale = -127 / x_max (the signed value of largest magnitude) and d = 1 / iscale. Rounding is half to
    /// even in both, as the SIMD paths of llama.cpp round. Vectorized and scalar code give identical results.
    /// </summary>
    private static float QuantizeGroup(float* x, int n, sbyte* q, bool kQuant)
    {
        float amax = 0;
        float max = 0;
        for (var j = 0; j < n; j++)
        {
            var ax = MathF.Abs(x[j]);
            if (ax > amax)
            {
                amax = ax;
                max = x[j];
            }
        }

        float id, d;
        if (amax == 0)
        {
            id = 0;
            d = 0;
        }
        else if (kQuant)
        {
            id = -127f / max;
            d = 1f / id;
        }
        else
        {
            id = 127f / amax;
            d = (float)(Half)(amax / 127f);
        }

        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vid = Vector256.Create(id);
            for (; i + 8 <= n; i += 8)
            {
                var r = Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i) * vid));
                r = Vector256.Clamp(r, Vector256.Create(-127), Vector256.Create(127));
                var s16 = Vector256.Narrow(r, r); // order-preserving: elements 0..7 are r
                var s8 = Vector256.Narrow(s16, s16);
                *(long*)(q + i) = s8.AsInt64().ToScalar();
            }
        }
        for (; i < n; i++)
            q[i] = (sbyte)Math.Clamp((int)MathF.Round(x[i] * id), -127, 127);
        return d;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float MaxLane(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    private static int Align(int bytes) => (bytes + 63) & ~63;
}
