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
}

internal readonly unsafe struct Q8_0Block : IBlock32
{
    public static int Bytes => 34;
    public static bool Signed => true;
    public static int OffsetShift => 0;
    public static int Weight(byte* block, int j) => ((sbyte*)(block + 2))[j];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unpack(byte* block) => Vector256.Load(block + 2);
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
}

/// <summary>
/// Dot products of 32-weight blocks with Q8_0-quantized activations (<see cref="ActivationQuant"/>). Per block the
/// integer products are exact; the float order is fixed per path: two accumulators over alternating blocks, then one
/// reduction, identical in the one-token and four-token kernels.
/// </summary>
internal static unsafe class BlockDot<TB> where TB : struct, IBlock32
{
    public static float Scalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var xq = ActivationQuant.Q8_0Qs(act);
        var xd = ActivationQuant.Q8_0D(act, cols);
        float sum = 0;
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * TB.Bytes;
            var isum = 0;
            for (var j = 0; j < 32; j++)
                isum += TB.Weight(blk, j) * xq[32 * b + j];
            sum += Fp16.ToSingle(*(ushort*)blk) * xd[b] * isum;
        }
        return sum;
    }

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
    private static void Step256(Vector256<byte> q, Vector256<sbyte> sign, byte* act, int cols, int b, float dw, ref Vector256<float> acc)
    {
        var x = Vector256.Load(ActivationQuant.Q8_0Qs(act) + 32 * b);
        if (TB.Signed)
            x = Avx2.Sign(x, sign);
        var p32 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, x), Vector256<short>.One);
        if (!TB.Signed)
            p32 -= Vector256.ShiftLeft(Vector256.Load(ActivationQuant.Q8_0Sv(act, cols) + 8 * b), TB.OffsetShift);
        var scale = Vector256.Create(dw * ActivationQuant.Q8_0D(act, cols)[b]);
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p32), scale, acc);
    }

    public static float Avx2Dot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        Vector256<float> a0 = default, a1 = default;
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare256(blk, out var sign);
            var dw = Fp16.ToSingle(*(ushort*)blk);
            if ((b & 1) == 0)
                Step256(q, sign, act, cols, b, dw, ref a0);
            else
                Step256(q, sign, act, cols, b, dw, ref a1);
        }
        return Vector256.Sum(a0 + a1);
    }

    public static void Avx2Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        byte* x0 = act, x1 = act + actStride, x2 = act + 2 * actStride, x3 = act + 3 * actStride;
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector256<float> a20 = default, a21 = default, a30 = default, a31 = default;
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare256(blk, out var sign);
            var dw = Fp16.ToSingle(*(ushort*)blk);
            if ((b & 1) == 0)
            {
                Step256(q, sign, x0, cols, b, dw, ref a00);
                Step256(q, sign, x1, cols, b, dw, ref a10);
                Step256(q, sign, x2, cols, b, dw, ref a20);
                Step256(q, sign, x3, cols, b, dw, ref a30);
            }
            else
            {
                Step256(q, sign, x0, cols, b, dw, ref a01);
                Step256(q, sign, x1, cols, b, dw, ref a11);
                Step256(q, sign, x2, cols, b, dw, ref a21);
                Step256(q, sign, x3, cols, b, dw, ref a31);
            }
        }
        y[0] = Vector256.Sum(a00 + a01);
        y[yStride] = Vector256.Sum(a10 + a11);
        y[2 * yStride] = Vector256.Sum(a20 + a21);
        y[3 * yStride] = Vector256.Sum(a30 + a31);
    }

    // ---- 512-bit: two blocks per vector; an odd last block goes through the 256-bit step ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Prepare512(byte* blk, out Vector512<sbyte> negative)
    {
        var q = Vector512.Create(TB.Unpack(blk), TB.Unpack(blk + TB.Bytes));
        negative = TB.Signed ? Vector512.LessThan(q.AsSByte(), Vector512<sbyte>.Zero) : default;
        return TB.Signed ? Avx512BW.Abs(q.AsSByte()) : q;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step512(Vector512<byte> q, Vector512<sbyte> negative, byte* act, int cols, int b, Vector512<float> dw, ref Vector512<float> acc)
    {
        var x = Vector512.Load(ActivationQuant.Q8_0Qs(act) + 32 * b);
        if (TB.Signed)
            x = Vector512.ConditionalSelect(negative, Vector512<sbyte>.Zero - x, x);
        var p32 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, x), Vector512<short>.One);
        if (!TB.Signed)
            p32 -= Vector512.ShiftLeft(Vector512.Load(ActivationQuant.Q8_0Sv(act, cols) + 8 * b), TB.OffsetShift);
        var scale = dw * Vector512.Load(ActivationQuant.Q8_0Dv(act, cols) + 8 * b);
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p32), scale, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairScales(byte* blk) =>
        Vector512.Create(Vector256.Create(Fp16.ToSingle(*(ushort*)blk)), Vector256.Create(Fp16.ToSingle(*(ushort*)(blk + TB.Bytes))));

    public static float Avx512Dot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        Vector512<float> a0 = default, a1 = default;
        var b = 0;
        for (; b + 2 <= nb; b += 2)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare512(blk, out var neg);
            var dw = PairScales(blk);
            if ((b & 2) == 0)
                Step512(q, neg, act, cols, b, dw, ref a0);
            else
                Step512(q, neg, act, cols, b, dw, ref a1);
        }
        Vector256<float> tail = default;
        if (b < nb)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare256(blk, out var sign);
            Step256(q, sign, act, cols, b, Fp16.ToSingle(*(ushort*)blk), ref tail);
        }
        return Vector512.Sum(a0 + a1) + Vector256.Sum(tail);
    }

    public static void Avx512Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        byte* x0 = act, x1 = act + actStride, x2 = act + 2 * actStride, x3 = act + 3 * actStride;
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector512<float> a20 = default, a21 = default, a30 = default, a31 = default;
        var b = 0;
        for (; b + 2 <= nb; b += 2)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare512(blk, out var neg);
            var dw = PairScales(blk);
            if ((b & 2) == 0)
            {
                Step512(q, neg, x0, cols, b, dw, ref a00);
                Step512(q, neg, x1, cols, b, dw, ref a10);
                Step512(q, neg, x2, cols, b, dw, ref a20);
                Step512(q, neg, x3, cols, b, dw, ref a30);
            }
            else
            {
                Step512(q, neg, x0, cols, b, dw, ref a01);
                Step512(q, neg, x1, cols, b, dw, ref a11);
                Step512(q, neg, x2, cols, b, dw, ref a21);
                Step512(q, neg, x3, cols, b, dw, ref a31);
            }
        }
        Vector256<float> t0 = default, t1 = default, t2 = default, t3 = default;
        if (b < nb)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare256(blk, out var sign);
            var dw = Fp16.ToSingle(*(ushort*)blk);
            Step256(q, sign, x0, cols, b, dw, ref t0);
            Step256(q, sign, x1, cols, b, dw, ref t1);
            Step256(q, sign, x2, cols, b, dw, ref t2);
            Step256(q, sign, x3, cols, b, dw, ref t3);
        }
        y[0] = Vector512.Sum(a00 + a01) + Vector256.Sum(t0);
        y[yStride] = Vector512.Sum(a10 + a11) + Vector256.Sum(t1);
        y[2 * yStride] = Vector512.Sum(a20 + a21) + Vector256.Sum(t2);
        y[3 * yStride] = Vector512.Sum(a30 + a31) + Vector256.Sum(t3);
    }
}
