using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>
/// Q4_0 kernels over the quad-interleaved Q8_0 activations (<see cref="ActivationQuant.Q8_0Qsq"/>): the low and high
/// nibbles of 2 (256-bit) or 4 (512-bit) consecutive blocks multiply activation vectors directly, with no per-block
/// lane shuffles. Blocks past the last whole group of 4 go through the generic block kernel into their own
/// accumulator. Float order per (row, token) is fixed and shared by the one- and four-token kernels.
/// </summary>
internal static unsafe class Q4_0Dot
{
    private const int Bytes = 18;

    private readonly struct Act
    {
        public readonly sbyte* Qsq;
        public readonly float* Dq;
        public readonly int* Sq;
        public readonly float* D;
        public readonly byte* Token;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Act(byte* token, int cols)
        {
            Token = token;
            Qsq = ActivationQuant.Q8_0Qsq(token, cols);
            Dq = ActivationQuant.Q8_0Dq(token, cols);
            Sq = ActivationQuant.Q8_0Sq(token, cols);
            D = ActivationQuant.Q8_0D(token, cols);
        }
    }

    // ---- 256-bit: two blocks per step; the two pairs of a quad feed two accumulators ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UnpackPair(byte* blk, out Vector256<byte> lo, out Vector256<byte> hi, out Vector256<float> dw)
    {
        var raw = Avx2.InsertVector128(Vector128.Load(blk + 2).ToVector256Unsafe(), Vector128.Load(blk + Bytes + 2), 1);
        var mask = Vector256.Create((byte)0x0F);
        lo = raw & mask;
        hi = Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & mask;
        dw = Avx.InsertVector128(Vector128.Create(Fp16.ToSingle(*(ushort*)blk)).ToVector256Unsafe(), Vector128.Create(Fp16.ToSingle(*(ushort*)(blk + Bytes))), 1);
    }

    /// <summary>Pair <paramref name="half"/> (0 or 1) of quad <paramref name="q"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> StepPair(Vector256<byte> lo, Vector256<byte> hi, Vector256<float> dw, in Act a, int q, int half, Vector256<float> acc)
    {
        var x = a.Qsq + 128 * q + 32 * half;
        var p16 = Avx2.MultiplyAddAdjacent(lo, Vector256.Load(x)) + Avx2.MultiplyAddAdjacent(hi, Vector256.Load(x + 64));
        var p32 = Avx2.MultiplyAddAdjacent(p16, Vector256<short>.One) - Vector256.Load(a.Sq + 16 * q + 8 * half);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(p32), dw * Vector256.Load(a.Dq + 16 * q + 8 * half), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Tail(byte* w, byte* token, int cols, int nq, int nb)
    {
        // The 0..3 blocks after the last quad, through the generic kernel's arithmetic on one accumulator.
        float tail = 0;
        for (var b = 4 * nq; b < nb; b++)
            tail += BlockDot<Q4_0Block>.Avx2Single(w + b * Bytes, token, cols, b);
        return tail;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx2Dot(byte* w, byte* act, int cols)
    {
        int nb = cols / 32, nq = nb / 4;
        var a = new Act(act, cols);
        Vector256<float> a0 = default, a1 = default;
        for (var q = 0; q < nq; q++)
        {
            var blk = w + 4 * q * Bytes;
            UnpackPair(blk, out var lo0, out var hi0, out var d0);
            UnpackPair(blk + 2 * Bytes, out var lo1, out var hi1, out var d1);
            a0 = StepPair(lo0, hi0, d0, a, q, 0, a0);
            a1 = StepPair(lo1, hi1, d1, a, q, 1, a1);
        }
        return Vector256.Sum(a0 + a1) + Tail(w, act, cols, nq, nb);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        int nb = cols / 32, nq = nb / 4;
        Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector256<float> a20 = default, a21 = default, a30 = default, a31 = default;
        for (var q = 0; q < nq; q++)
        {
            var blk = w + 4 * q * Bytes;
            UnpackPair(blk, out var lo0, out var hi0, out var d0);
            a00 = StepPair(lo0, hi0, d0, x0, q, 0, a00);
            a10 = StepPair(lo0, hi0, d0, x1, q, 0, a10);
            a20 = StepPair(lo0, hi0, d0, x2, q, 0, a20);
            a30 = StepPair(lo0, hi0, d0, x3, q, 0, a30);
            UnpackPair(blk + 2 * Bytes, out var lo1, out var hi1, out var d1);
            a01 = StepPair(lo1, hi1, d1, x0, q, 1, a01);
            a11 = StepPair(lo1, hi1, d1, x1, q, 1, a11);
            a21 = StepPair(lo1, hi1, d1, x2, q, 1, a21);
            a31 = StepPair(lo1, hi1, d1, x3, q, 1, a31);
        }
        y[0] = Vector256.Sum(a00 + a01) + Tail(w, x0.Token, cols, nq, nb);
        y[yStride] = Vector256.Sum(a10 + a11) + Tail(w, x1.Token, cols, nq, nb);
        y[2 * yStride] = Vector256.Sum(a20 + a21) + Tail(w, x2.Token, cols, nq, nb);
        y[3 * yStride] = Vector256.Sum(a30 + a31) + Tail(w, x3.Token, cols, nq, nb);
    }

    // ---- 512-bit: four blocks per step; alternating quads feed two accumulators ----

    private const float Pow2To112 = 5.192296858534828e33f;

    // vpermt2b control (NibbleIndex): output byte 16k + j takes nibble byte j of block k (offset 18k + 2 + j); block 3 comes from the
    // second load (at +8), so neither load reads past the quad's 72 bytes.
    // vpermb control (ScaleIndex): dword k holds block k's f16 scale in its high half (the low half is masked off later).
    // Constant vectors as expressions (not static fields), so fully optimized code embeds them.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> NibbleIndex() => Vector512.Create(
        (byte)2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
        20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
        38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53,
        112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> ScaleIndex() => Vector512.Create(
        (byte)0, 0, 0, 1, 0, 0, 18, 19, 0, 0, 36, 37, 0, 0, 54, 55,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>Nibbles of 4 blocks as [lo0 lo1 lo2 lo3] / [hi0 hi1 hi2 hi3] and their 4 scales (f32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UnpackQuad(byte* blk, out Vector512<byte> lo, out Vector512<byte> hi, out Vector128<float> dw)
    {
        Vector512<byte> raw;
        if (Avx512Vbmi.IsSupported)
        {
            var first = Vector512.Load(blk);
            raw = Avx512Vbmi.PermuteVar64x8x2(first, NibbleIndex(), Vector512.Load(blk + 8));
            // f16 -> f32 exactly for finite values: sign-extend from the high half, move exponent and mantissa into
            // place, rescale the exponent bias by 2^112 (subnormals included).
            var h = Avx512Vbmi.PermuteVar64x8(first, ScaleIndex()).AsInt32().GetLower().GetLower();
            dw = (Vector128.ShiftRightArithmetic(h, 3) & Vector128.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector128.Create(Pow2To112);
        }
        else
        {
            raw = Avx512F.InsertVector128(Avx512F.InsertVector128(Avx512F.InsertVector128(
                Vector128.Load(blk + 2).ToVector256Unsafe().ToVector512Unsafe(), Vector128.Load(blk + Bytes + 2), 1),
                Vector128.Load(blk + 2 * Bytes + 2), 2), Vector128.Load(blk + 3 * Bytes + 2), 3);
            dw = Vector128.Create(Fp16.ToSingle(*(ushort*)blk), Fp16.ToSingle(*(ushort*)(blk + Bytes)),
                Fp16.ToSingle(*(ushort*)(blk + 2 * Bytes)), Fp16.ToSingle(*(ushort*)(blk + 3 * Bytes)));
        }
        var mask = Vector512.Create((byte)0x0F);
        lo = raw & mask;
        hi = Vector512.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & mask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> StepQuad(Vector512<byte> lo, Vector512<byte> hi, Vector128<float> dw, in Act a, int q, Vector512<float> acc)
    {
        var x = a.Qsq + 128 * q;
        var p16 = Avx512BW.MultiplyAddAdjacent(lo, Vector512.Load(x)) + Avx512BW.MultiplyAddAdjacent(hi, Vector512.Load(x + 64));
        var p32 = Avx512BW.MultiplyAddAdjacent(p16, Vector512<short>.One) - Vector512.Load(a.Sq + 16 * q);
        var scale4 = dw * Vector128.Load(a.D + 4 * q);
        var scale = Avx512F.PermuteVar16x32(scale4.ToVector256Unsafe().ToVector512Unsafe(), Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p32), scale, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx512Dot(byte* w, byte* act, int cols)
    {
        int nb = cols / 32, nq = nb / 4;
        var a = new Act(act, cols);
        Vector512<float> a0 = default, a1 = default;
        var q = 0;
        // Whole chunks of 16 quads unrolled: a row of 2048 inputs is one chunk and needs no loop, whose mispredicted
        // exit at the end of every short row stalled the next row's loads (~15 % of one thread's time at 2048).
        for (; q + 16 <= nq; q += 16)
        {
            Pair(w, a, q, ref a0, ref a1);
            Pair(w, a, q + 2, ref a0, ref a1);
            Pair(w, a, q + 4, ref a0, ref a1);
            Pair(w, a, q + 6, ref a0, ref a1);
            Pair(w, a, q + 8, ref a0, ref a1);
            Pair(w, a, q + 10, ref a0, ref a1);
            Pair(w, a, q + 12, ref a0, ref a1);
            Pair(w, a, q + 14, ref a0, ref a1);
        }
        for (; q + 2 <= nq; q += 2)
            Pair(w, a, q, ref a0, ref a1);
        if (q < nq)
        {
            UnpackQuad(w + 4 * q * Bytes, out var lo0, out var hi0, out var d0);
            a0 = StepQuad(lo0, hi0, d0, a, q, a0);
        }
        return Vector512.Sum(a0 + a1) + Tail(w, act, cols, nq, nb);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        int nb = cols / 32, nq = nb / 4;
        Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector512<float> a20 = default, a21 = default, a30 = default, a31 = default;
        var q = 0;
        for (; q + 2 <= nq; q += 2)
        {
            var blk = w + 4 * q * Bytes;
            UnpackQuad(blk, out var lo0, out var hi0, out var d0);
            a00 = StepQuad(lo0, hi0, d0, x0, q, a00);
            a10 = StepQuad(lo0, hi0, d0, x1, q, a10);
            a20 = StepQuad(lo0, hi0, d0, x2, q, a20);
            a30 = StepQuad(lo0, hi0, d0, x3, q, a30);
            UnpackQuad(blk + 4 * Bytes, out var lo1, out var hi1, out var d1);
            a01 = StepQuad(lo1, hi1, d1, x0, q + 1, a01);
            a11 = StepQuad(lo1, hi1, d1, x1, q + 1, a11);
            a21 = StepQuad(lo1, hi1, d1, x2, q + 1, a21);
            a31 = StepQuad(lo1, hi1, d1, x3, q + 1, a31);
        }
        if (q < nq)
        {
            UnpackQuad(w + 4 * q * Bytes, out var lo0, out var hi0, out var d0);
            a00 = StepQuad(lo0, hi0, d0, x0, q, a00);
            a10 = StepQuad(lo0, hi0, d0, x1, q, a10);
            a20 = StepQuad(lo0, hi0, d0, x2, q, a20);
            a30 = StepQuad(lo0, hi0, d0, x3, q, a30);
        }
        y[0] = Vector512.Sum(a00 + a01) + Tail(w, x0.Token, cols, nq, nb);
        y[yStride] = Vector512.Sum(a10 + a11) + Tail(w, x1.Token, cols, nq, nb);
        y[2 * yStride] = Vector512.Sum(a20 + a21) + Tail(w, x2.Token, cols, nq, nb);
        y[3 * yStride] = Vector512.Sum(a30 + a31) + Tail(w, x3.Token, cols, nq, nb);
    }

    /// <summary>Quads <paramref name="q"/> (into <paramref name="a0"/>) and q + 1 (into <paramref name="a1"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair(byte* w, in Act a, int q, ref Vector512<float> a0, ref Vector512<float> a1)
    {
        var blk = w + 4 * q * Bytes;
        UnpackQuad(blk, out var lo0, out var hi0, out var d0);
        UnpackQuad(blk + 4 * Bytes, out var lo1, out var hi1, out var d1);
        a0 = StepQuad(lo0, hi0, d0, a, q, a0);
        a1 = StepQuad(lo1, hi1, d1, a, q + 1, a1);
    }
}
