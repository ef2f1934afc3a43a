using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>Unpacks one 32-weight block (Q8_0, Q4_0, Q5_0) into bytes for <c>vpmaddubsw</c>.</summary>
internal unsafe interface IBlock32
{
    /// <summary>Bytes per block.</summary>
    static abstract int Bytes { get; }

    /// <summary>True when the unpacked weights are signed (Q8_0: sign trick); false when unsigned with an offset.</summary>
    static abstract bool Signed { get; }

    /// <summary>log2 of the offset subtracted from unsigned weights (Q4_0: 8, Q5_0: 16).</summary>
    static abstract int OffsetShift { get; }

    /// <summary>Weight j of the block as an integer (offset already applied), for the scalar kernel.</summary>
    static abstract int Weight(byte* block, int j);

    /// <summary>The 32 weights, in order (signed, or unsigned before the offset).</summary>
    static abstract Vector256<byte> Unpack(byte* block);

    /// <summary>The weights of two consecutive blocks (64 bytes).</summary>
    static abstract Vector512<byte> UnpackPair(byte* block);
}

internal readonly unsafe struct Q8_0Block : IBlock32
{
    public static int Bytes => 34;
    public static bool Signed => true;
    public static int OffsetShift => 0;
    public static int Weight(byte* block, int j) => ((sbyte*)(block + 2))[j];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unpack(byte* block) => Vector256.Load(block + 2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> UnpackPair(byte* block) =>
        Avx512F.InsertVector256(Vector256.Load(block + 2).ToVector512Unsafe(), Vector256.Load(block + 36), 1);
}

internal readonly unsafe struct Q4_0Block : IBlock32
{
    public static int Bytes => 18;
    public static bool Signed => false;
    public static int OffsetShift => 3;

    public static int Weight(byte* block, int j) =>
        (j < 16 ? block[2 + j] & 0xF : block[2 + j - 16] >> 4) - 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unpack(byte* block)
    {
        var raw = Vector128.Load(block + 2);
        var both = Vector256.Create(raw, Vector128.ShiftRightLogical(raw.AsUInt16(), 4).AsByte());
        return both & Vector256.Create((byte)0x0F);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> UnpackPair(byte* block)
    {
        // [raw0 | raw1] and the same shifted right by 4, interleaved by 128-bit lanes: [lo0, hi0, lo1, hi1].
        var raw = Avx2.InsertVector128(Vector128.Load(block + 2).ToVector256Unsafe(), Vector128.Load(block + 20), 1);
        var shifted = Vector256.ShiftRightLogical(raw.AsUInt64(), 4);
        var both = Avx512F.PermuteVar8x64x2(raw.AsUInt64().ToVector512Unsafe(), Vector512.Create(0UL, 1, 8, 9, 2, 3, 10, 11), shifted.ToVector512Unsafe());
        return both.AsByte() & Vector512.Create((byte)0x0F);
    }
}

internal readonly unsafe struct Q5_0Block : IBlock32
{
    public static int Bytes => 22;
    public static bool Signed => false;
    public static int OffsetShift => 4;

    public static int Weight(byte* block, int j)
    {
        var qh = *(uint*)(block + 2);
        var low = j < 16 ? block[6 + j] & 0xF : block[6 + j - 16] >> 4;
        return (low | (int)(((qh >> j) & 1) << 4)) - 16;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unpack(byte* block)
    {
        var raw = Vector128.Load(block + 6);
        var nibbles = Vector256.Create(raw, Vector128.ShiftRightLogical(raw.AsUInt16(), 4).AsByte()) & Vector256.Create((byte)0x0F);
        // Spread the 32 bits of qh over 32 bytes: byte i takes qh byte i/8, keeps bit i%8.
        var qh = Vector256.Create(*(uint*)(block + 2)).AsByte();
        var spread = Avx2.Shuffle(qh, Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        var bit = Vector256.Create(0x8040201008040201UL).AsByte();
        var high = Vector256.Equals(spread & bit, bit) & Vector256.Create((byte)0x10);
        return nibbles | high;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> UnpackPair(byte* block) =>
        Avx512F.InsertVector256(Unpack(block).ToVector512Unsafe(), Unpack(block + 22), 1);
}

/// <summary>Pointers into one token's Q8_0 activations (<see cref="ActivationQuant"/>).</summary>
internal readonly unsafe struct Q8Act
{
    public readonly sbyte* Qs;
    public readonly float* D;
    public readonly float* Dv;
    public readonly int* Sv;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Q8Act(byte* token, int cols)
    {
        Qs = ActivationQuant.Q8_0Qs(token);
        D = ActivationQuant.Q8_0D(token, cols);
        Dv = ActivationQuant.Q8_0Dv(token, cols);
        Sv = ActivationQuant.Q8_0Sv(token, cols);
    }
}

/// <summary>
/// Dot products of 32-weight blocks with Q8_0-quantized activations (<see cref="ActivationQuant"/>). Per block the
/// integer products are exact; the float order is fixed per path: two accumulators over alternating blocks (256-bit)
/// or block pairs (512-bit), then one reduction, identical in the one-token and four-token kernels.
/// </summary>
internal static unsafe class BlockDot<TB> where TB : struct, IBlock32
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Scalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var a = new Q8Act(act, cols);
        float sum = 0;
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * TB.Bytes;
            var isum = 0;
            for (var j = 0; j < 32; j++)
                isum += TB.Weight(blk, j) * a.Qs[32 * b + j];
            sum += Fp16.ToSingle(*(ushort*)blk) * a.D[b] * isum;
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        for (var t = 0; t < 4; t++)
            y[t * yStride] = Scalar(w, act + t * actStride, cols);
    }

    // ---- 256-bit: one block per vector ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Prepare256(byte* blk, out Vector256<sbyte> sign)
    {
        var q = TB.Unpack(blk);
        sign = q.AsSByte();
        return TB.Signed ? Avx2.Abs(q.AsSByte()) : q;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step256(Vector256<byte> q, Vector256<sbyte> sign, in Q8Act a, int b, float dw, Vector256<float> acc)
    {
        var x = Vector256.Load(a.Qs + 32 * b);
        if (TB.Signed)
            x = Avx2.Sign(x, sign);
        var p32 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, x), Vector256<short>.One);
        if (!TB.Signed)
            p32 -= Vector256.ShiftLeft(Vector256.Load(a.Sv + 8 * b), TB.OffsetShift);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(p32), Vector256.Create(dw * a.D[b]), acc);
    }

    /// <summary>One block's contribution on its own (used for remainders by the interleaved kernels).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static float Avx2Single(byte* blk, byte* act, int cols, int b)
    {
        var a = new Q8Act(act, cols);
        var q = Prepare256(blk, out var sign);
        return Vector256.Sum(Step256(q, sign, a, b, Fp16.ToSingle(*(ushort*)blk), Vector256<float>.Zero));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx2Dot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var a = new Q8Act(act, cols);
        Vector256<float> a0 = default, a1 = default;
        var b = 0;
        for (; b + 2 <= nb; b += 2)
        {
            var blk = w + b * TB.Bytes;
            var q0 = Prepare256(blk, out var s0);
            var q1 = Prepare256(blk + TB.Bytes, out var s1);
            a0 = Step256(q0, s0, a, b, Fp16.ToSingle(*(ushort*)blk), a0);
            a1 = Step256(q1, s1, a, b + 1, Fp16.ToSingle(*(ushort*)(blk + TB.Bytes)), a1);
        }
        if (b < nb)
        {
            var blk = w + b * TB.Bytes;
            var q0 = Prepare256(blk, out var s0);
            a0 = Step256(q0, s0, a, b, Fp16.ToSingle(*(ushort*)blk), a0);
        }
        return Vector256.Sum(a0 + a1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        Q8Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector256<float> a20 = default, a21 = default, a30 = default, a31 = default;
        var b = 0;
        for (; b + 2 <= nb; b += 2)
        {
            var blk = w + b * TB.Bytes;
            var q0 = Prepare256(blk, out var s0);
            var d0 = Fp16.ToSingle(*(ushort*)blk);
            a00 = Step256(q0, s0, x0, b, d0, a00);
            a10 = Step256(q0, s0, x1, b, d0, a10);
            a20 = Step256(q0, s0, x2, b, d0, a20);
            a30 = Step256(q0, s0, x3, b, d0, a30);
            var q1 = Prepare256(blk + TB.Bytes, out var s1);
            var d1 = Fp16.ToSingle(*(ushort*)(blk + TB.Bytes));
            a01 = Step256(q1, s1, x0, b + 1, d1, a01);
            a11 = Step256(q1, s1, x1, b + 1, d1, a11);
            a21 = Step256(q1, s1, x2, b + 1, d1, a21);
            a31 = Step256(q1, s1, x3, b + 1, d1, a31);
        }
        if (b < nb)
        {
            var blk = w + b * TB.Bytes;
            var q0 = Prepare256(blk, out var s0);
            var d0 = Fp16.ToSingle(*(ushort*)blk);
            a00 = Step256(q0, s0, x0, b, d0, a00);
            a10 = Step256(q0, s0, x1, b, d0, a10);
            a20 = Step256(q0, s0, x2, b, d0, a20);
            a30 = Step256(q0, s0, x3, b, d0, a30);
        }
        y[0] = Vector256.Sum(a00 + a01);
        y[yStride] = Vector256.Sum(a10 + a11);
        y[2 * yStride] = Vector256.Sum(a20 + a21);
        y[3 * yStride] = Vector256.Sum(a30 + a31);
    }

    // ---- 512-bit: two blocks per vector; alternating pairs feed two accumulators; an odd last block goes through
    // the 256-bit step into its own accumulator ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Prepare512(byte* blk, out Vector512<sbyte> negative, out Vector512<float> dw)
    {
        var q = TB.UnpackPair(blk);
        negative = TB.Signed ? Vector512.LessThan(q.AsSByte(), Vector512<sbyte>.Zero) : default;
        dw = Avx512F.InsertVector256(Vector512.Create(Fp16.ToSingle(*(ushort*)blk)), Vector256.Create(Fp16.ToSingle(*(ushort*)(blk + TB.Bytes))), 1);
        return TB.Signed ? Avx512BW.Abs(q.AsSByte()) : q;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Step512(Vector512<byte> q, Vector512<sbyte> negative, in Q8Act a, int b, Vector512<float> dw, Vector512<float> acc)
    {
        var x = Vector512.Load(a.Qs + 32 * b);
        if (TB.Signed)
            x = Vector512.ConditionalSelect(negative, Vector512<sbyte>.Zero - x, x);
        var p32 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, x), Vector512<short>.One);
        if (!TB.Signed)
            p32 -= Vector512.ShiftLeft(Vector512.Load(a.Sv + 8 * b), TB.OffsetShift);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p32), dw * Vector512.Load(a.Dv + 8 * b), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx512Dot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var a = new Q8Act(act, cols);
        Vector512<float> a0 = default, a1 = default;
        var b = 0;
        for (; b + 4 <= nb; b += 4)
        {
            var blk = w + b * TB.Bytes;
            var q0 = Prepare512(blk, out var n0, out var d0);
            var q1 = Prepare512(blk + 2 * TB.Bytes, out var n1, out var d1);
            a0 = Step512(q0, n0, a, b, d0, a0);
            a1 = Step512(q1, n1, a, b + 2, d1, a1);
        }
        if (b + 2 <= nb)
        {
            var q0 = Prepare512(w + b * TB.Bytes, out var n0, out var d0);
            a0 = Step512(q0, n0, a, b, d0, a0);
            b += 2;
        }
        Vector256<float> tail = default;
        if (b < nb)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare256(blk, out var sign);
            tail = Step256(q, sign, a, b, Fp16.ToSingle(*(ushort*)blk), tail);
        }
        return Vector512.Sum(a0 + a1) + Vector256.Sum(tail);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        Q8Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector512<float> a20 = default, a21 = default, a30 = default, a31 = default;
        var b = 0;
        for (; b + 4 <= nb; b += 4)
        {
            var blk = w + b * TB.Bytes;
            var q0 = Prepare512(blk, out var n0, out var d0);
            a00 = Step512(q0, n0, x0, b, d0, a00);
            a10 = Step512(q0, n0, x1, b, d0, a10);
            a20 = Step512(q0, n0, x2, b, d0, a20);
            a30 = Step512(q0, n0, x3, b, d0, a30);
            var q1 = Prepare512(blk + 2 * TB.Bytes, out var n1, out var d1);
            a01 = Step512(q1, n1, x0, b + 2, d1, a01);
            a11 = Step512(q1, n1, x1, b + 2, d1, a11);
            a21 = Step512(q1, n1, x2, b + 2, d1, a21);
            a31 = Step512(q1, n1, x3, b + 2, d1, a31);
        }
        if (b + 2 <= nb)
        {
            var q0 = Prepare512(w + b * TB.Bytes, out var n0, out var d0);
            a00 = Step512(q0, n0, x0, b, d0, a00);
            a10 = Step512(q0, n0, x1, b, d0, a10);
            a20 = Step512(q0, n0, x2, b, d0, a20);
            a30 = Step512(q0, n0, x3, b, d0, a30);
            b += 2;
        }
        Vector256<float> t0 = default, t1 = default, t2 = default, t3 = default;
        if (b < nb)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare256(blk, out var sign);
            var dw = Fp16.ToSingle(*(ushort*)blk);
            t0 = Step256(q, sign, x0, b, dw, t0);
            t1 = Step256(q, sign, x1, b, dw, t1);
            t2 = Step256(q, sign, x2, b, dw, t2);
            t3 = Step256(q, sign, x3, b, dw, t3);
        }
        y[0] = Vector512.Sum(a00 + a01) + Vector256.Sum(t0);
        y[yStride] = Vector512.Sum(a10 + a11) + Vector256.Sum(t1);
        y[2 * yStride] = Vector512.Sum(a20 + a21) + Vector256.Sum(t2);
        y[3 * yStride] = Vector512.Sum(a30 + a31) + Vector256.Sum(t3);
    }
}
