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
/// Dot products of 32-weight blocks with Q8_0-quantized activations (<see cref="ActivationQuant"/>), in llama.cpp's
/// float order on every path (so results agree with it bit for bit, not only within rounding): eight lane accumulators
/// (lane k holds the exact integer products 4k..4k+3 of a block), one fused multiply-add per block and lane with the
/// block's scale product, blocks in order, then <see cref="Hsum8"/>. The one-token and four-token kernels and all
/// paths give identical results; four tokens (or consecutive rows) keep four independent chains in flight.
/// </summary>
internal static unsafe class BlockDot<TB> where TB : struct, IBlock32
{
    /// <summary>llama.cpp's <c>hsum_float_8</c>: ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Hsum8(Vector256<float> v)
    {
        var r = v.GetUpper() + v.GetLower();
        var s = r + Sse.MoveHighToLow(r, r);
        return s.ToScalar() + s.GetElement(1);
    }

    /// <summary><see cref="Hsum8(Vector256{float})"/>'s order over eight lanes in memory (the scalar kernels).</summary>
    internal static float Hsum8(float* lanes) =>
        ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Scalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var a = new Q8Act(act, cols);
        var lanes = stackalloc float[8];
        for (var k = 0; k < 8; k++)
            lanes[k] = 0;
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * TB.Bytes;
            var d = Fp16.ToSingle(*(ushort*)blk) * a.D[b];
            for (var k = 0; k < 8; k++)
            {
                var isum = 0;
                for (var j = 4 * k; j < 4 * k + 4; j++)
                    isum += TB.Weight(blk, j) * a.Qs[32 * b + j];
                lanes[k] = MathF.FusedMultiplyAdd(isum, d, lanes[k]);
            }
        }
        return Hsum8(lanes);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        TokenLoop.Four(&Scalar, w, act, actStride, cols, y, yStride);

    // ---- 256-bit: one block per vector ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Prepare256(byte* blk, out Vector256<sbyte> sign)
    {
        var q = TB.Unpack(blk);
        sign = q.AsSByte();
        return TB.Signed ? Avx2.Abs(q.AsSByte()) : q;
    }

    /// <summary>One block of one token: acc + (exact lane sums) x (weight scale x activation scale), fused.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step256(Vector256<byte> q, Vector256<sbyte> sign, in Q8Act a, int b, Vector256<float> dw, Vector256<float> acc) =>
        // dv holds the activation scale eight times, so the product needs no scalar step and broadcast.
        StepScaled(q, sign, a, b, dw * Vector256.Load(a.Dv + 8 * b), acc);

    /// <summary><see cref="Step256"/> with the scale product d_w x d_y already formed (the same float in every lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> StepScaled(Vector256<byte> q, Vector256<sbyte> sign, in Q8Act a, int b, Vector256<float> d, Vector256<float> acc)
    {
        var x = Vector256.Load(a.Qs + 32 * b);
        if (TB.Signed)
            x = Avx2.Sign(x, sign);
        var p32 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, x), Vector256<short>.One);
        if (!TB.Signed)
            p32 -= Vector256.ShiftLeft(Vector256.Load(a.Sv + 8 * b), TB.OffsetShift);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(p32), d, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx2Dot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var a = new Q8Act(act, cols);
        Vector256<float> acc = default;
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare256(blk, out var sign);
            acc = Step256(q, sign, a, b, Vector256.Create(Fp16.ToSingle(*(ushort*)blk)), acc);
        }
        return Hsum8(acc);
    }

    /// <summary>The accumulators of one weight row against four tokens.</summary>
    private struct Four
    {
        public Vector256<float> A0, A1, A2, A3;

        public readonly void Store(float* y, nint yStride)
        {
            y[0] = Hsum8(A0);
            y[yStride] = Hsum8(A1);
            y[2 * yStride] = Hsum8(A2);
            y[3 * yStride] = Hsum8(A3);
        }
    }

    /// <summary>Block <paramref name="b"/> of one row (at <paramref name="blk"/>) for four tokens, 256 bits at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Four Step256x4(byte* blk, in Q8Act x0, in Q8Act x1, in Q8Act x2, in Q8Act x3, int b, Four acc)
    {
        var q = Prepare256(blk, out var sign);
        var dw = Vector256.Create(Fp16.ToSingle(*(ushort*)blk));
        acc.A0 = Step256(q, sign, x0, b, dw, acc.A0);
        acc.A1 = Step256(q, sign, x1, b, dw, acc.A1);
        acc.A2 = Step256(q, sign, x2, b, dw, acc.A2);
        acc.A3 = Step256(q, sign, x3, b, dw, acc.A3);
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        Q8Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        var acc = new Four();
        for (var b = 0; b < nb; b++)
            acc = Step256x4(w + b * TB.Bytes, x0, x1, x2, x3, b, acc);
        acc.Store(y, yStride);
    }

    // ---- 512-bit: the integer work of two blocks per vector, then the two blocks' steps in order ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Prepare512(byte* blk, out Vector512<sbyte> negative, out Vector512<float> dw)
    {
        var q = TB.UnpackPair(blk);
        negative = TB.Signed ? Vector512.LessThan(q.AsSByte(), Vector512<sbyte>.Zero) : default;
        dw = Avx512F.InsertVector256(Vector512.Create(Fp16.ToSingle(*(ushort*)blk)), Vector256.Create(Fp16.ToSingle(*(ushort*)(blk + TB.Bytes))), 1);
        return TB.Signed ? Avx512BW.Abs(q.AsSByte()) : q;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step512(Vector512<byte> q, Vector512<sbyte> negative, in Q8Act a, int b, Vector512<float> dw, Vector256<float> acc)
    {
        var x = Vector512.Load(a.Qs + 32 * b);
        if (TB.Signed)
            x = Vector512.ConditionalSelect(negative, Vector512<sbyte>.Zero - x, x);
        var p32 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, x), Vector512<short>.One);
        if (!TB.Signed)
            p32 -= Vector512.ShiftLeft(Vector512.Load(a.Sv + 8 * b), TB.OffsetShift);
        var p = Avx512F.ConvertToVector512Single(p32);
        var d = dw * Vector512.Load(a.Dv + 8 * b);
        acc = Fma.MultiplyAdd(p.GetLower(), d.GetLower(), acc);
        return Fma.MultiplyAdd(p.GetUpper(), d.GetUpper(), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx512Dot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var a = new Q8Act(act, cols);
        Vector256<float> acc = default;
        var b = 0;
        for (; b + 2 <= nb; b += 2)
        {
            var q = Prepare512(w + b * TB.Bytes, out var n, out var d);
            acc = Step512(q, n, a, b, d, acc);
        }
        if (b < nb)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare256(blk, out var sign);
            acc = Step256(q, sign, a, b, Vector256.Create(Fp16.ToSingle(*(ushort*)blk)), acc);
        }
        return Hsum8(acc);
    }

    /// <summary>
    /// Two weight rows (<paramref name="w"/> and the next, <paramref name="rowBytes"/> on) against four tokens: eight
    /// independent chains, so prompt products are not held up by the one chain each dot product is in this order.
    /// 256-bit steps: one block per step needs no split of wider vectors. Results go to <c>y[t * yStride + r]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Dot2x4(byte* w, nint rowBytes, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        var v = w + rowBytes;
        Q8Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * TB.Bytes;
            var q = Prepare256(blk, out var sign);
            var dw = Vector256.Create(Fp16.ToSingle(*(ushort*)blk));
            var vlk = v + b * TB.Bytes;
            var r = Prepare256(vlk, out var tsign);
            var dv = Vector256.Create(Fp16.ToSingle(*(ushort*)vlk));
            a0 = Step256(q, sign, x0, b, dw, a0);
            b0 = Step256(r, tsign, x0, b, dv, b0);
            a1 = Step256(q, sign, x1, b, dw, a1);
            b1 = Step256(r, tsign, x1, b, dv, b1);
            a2 = Step256(q, sign, x2, b, dw, a2);
            b2 = Step256(r, tsign, x2, b, dv, b2);
            a3 = Step256(q, sign, x3, b, dw, a3);
            b3 = Step256(r, tsign, x3, b, dv, b3);
        }
        y[0] = Hsum8(a0);
        y[1] = Hsum8(b0);
        y[yStride] = Hsum8(a1);
        y[yStride + 1] = Hsum8(b1);
        y[2 * yStride] = Hsum8(a2);
        y[2 * yStride + 1] = Hsum8(b2);
        y[3 * yStride] = Hsum8(a3);
        y[3 * yStride + 1] = Hsum8(b3);
    }

    /// <summary>
    /// Four consecutive rows against four tokens, as <see cref="Avx2Dot2x4"/> does two: sixteen independent chains, each
    /// activation block loaded once for four rows. Needs the 32 vector registers of the AVX-512 path (256-bit steps).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512Dot4x4(byte* w, nint rowBytes, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        Q8Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default;
        // The sixteen scale products of a block, four multiplies of four lanes (row scale x the tokens' scales), each
        // then broadcast from memory: the same floats as the one-row kernel's dw x dv, with fewer multiplies.
        var d = stackalloc float[16];
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * TB.Bytes;
            var dy = Vector128.Create(x0.D[b], x1.D[b], x2.D[b], x3.D[b]);
            (Vector128.Create(Fp16.ToSingle(*(ushort*)blk)) * dy).Store(d);
            (Vector128.Create(Fp16.ToSingle(*(ushort*)(blk + rowBytes))) * dy).Store(d + 4);
            (Vector128.Create(Fp16.ToSingle(*(ushort*)(blk + 2 * rowBytes))) * dy).Store(d + 8);
            (Vector128.Create(Fp16.ToSingle(*(ushort*)(blk + 3 * rowBytes))) * dy).Store(d + 12);
            var qa = Prepare256(blk, out var sa);
            var qb = Prepare256(blk + rowBytes, out var sb);
            var qc = Prepare256(blk + 2 * rowBytes, out var sc);
            var qe = Prepare256(blk + 3 * rowBytes, out var se);
            a0 = StepScaled(qa, sa, x0, b, Vector256.Create(d[0]), a0);
            b0 = StepScaled(qb, sb, x0, b, Vector256.Create(d[4]), b0);
            c0 = StepScaled(qc, sc, x0, b, Vector256.Create(d[8]), c0);
            e0 = StepScaled(qe, se, x0, b, Vector256.Create(d[12]), e0);
            a1 = StepScaled(qa, sa, x1, b, Vector256.Create(d[1]), a1);
            b1 = StepScaled(qb, sb, x1, b, Vector256.Create(d[5]), b1);
            c1 = StepScaled(qc, sc, x1, b, Vector256.Create(d[9]), c1);
            e1 = StepScaled(qe, se, x1, b, Vector256.Create(d[13]), e1);
            a2 = StepScaled(qa, sa, x2, b, Vector256.Create(d[2]), a2);
            b2 = StepScaled(qb, sb, x2, b, Vector256.Create(d[6]), b2);
            c2 = StepScaled(qc, sc, x2, b, Vector256.Create(d[10]), c2);
            e2 = StepScaled(qe, se, x2, b, Vector256.Create(d[14]), e2);
            a3 = StepScaled(qa, sa, x3, b, Vector256.Create(d[3]), a3);
            b3 = StepScaled(qb, sb, x3, b, Vector256.Create(d[7]), b3);
            c3 = StepScaled(qc, sc, x3, b, Vector256.Create(d[11]), c3);
            e3 = StepScaled(qe, se, x3, b, Vector256.Create(d[15]), e3);
        }
        StoreColumn(y, yStride, a0, a1, a2, a3);
        StoreColumn(y + 1, yStride, b0, b1, b2, b3);
        StoreColumn(y + 2, yStride, c0, c1, c2, c3);
        StoreColumn(y + 3, yStride, e0, e1, e2, e3);
    }

    /// <summary>One row's four tokens: <c>y[t * yStride]</c>; inlined, so the accumulators stay in registers in the loop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreColumn(float* y, nint yStride, Vector256<float> t0, Vector256<float> t1, Vector256<float> t2, Vector256<float> t3)
    {
        y[0] = Hsum8(t0);
        y[yStride] = Hsum8(t1);
        y[2 * yStride] = Hsum8(t2);
        y[3 * yStride] = Hsum8(t3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        Q8Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var b = 0;
        for (; b + 2 <= nb; b += 2)
        {
            var q = Prepare512(w + b * TB.Bytes, out var n, out var d);
            a0 = Step512(q, n, x0, b, d, a0);
            a1 = Step512(q, n, x1, b, d, a1);
            a2 = Step512(q, n, x2, b, d, a2);
            a3 = Step512(q, n, x3, b, d, a3);
        }
        var acc = new Four { A0 = a0, A1 = a1, A2 = a2, A3 = a3 };
        if (b < nb)
            acc = Step256x4(w + b * TB.Bytes, x0, x1, x2, x3, b, acc);
        acc.Store(y, yStride);
    }
}

/// <summary>
/// Dot products of Q4_1 and Q5_1 blocks (a scale d and a minimum m per 32 unsigned weights: value = q x d + m) with
/// Q8_1 activations (<see cref="ActivationQuant"/>'s Q8_0 layout and its s), in llama.cpp's order (its AVX2 kernel):
/// eight lane accumulators of the exact integer products times d x d_y by fused multiply-add, blocks in order, the
/// minimum's part m x s accumulated apart by fused multiply-add, then <see cref="BlockDot{TB}.Hsum8"/> of the lanes plus
/// it. <typeparamref name="TLow"/> is the block without its minimum (Q4_0's layout for Q4_1, Q5_0's for Q5_1): its
/// unpacking reads the weights two bytes further on.
/// </summary>
internal static unsafe class MinBlockDot<TLow> where TLow : struct, IBlock32
{
    private static int Bytes => TLow.Bytes + 2;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Scalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var a = new Q8Act(act, cols);
        var s = ActivationQuant.Q8_1S(act, cols);
        var lanes = stackalloc float[8];
        for (var k = 0; k < 8; k++)
            lanes[k] = 0;
        var mins = 0f;
        var offset = 1 << TLow.OffsetShift;
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * Bytes;
            var d = Fp16.ToSingle(*(ushort*)blk) * a.D[b];
            mins = MathF.FusedMultiplyAdd(Fp16.ToSingle(*(ushort*)(blk + 2)), s[b], mins);
            for (var k = 0; k < 8; k++)
            {
                var isum = 0;
                for (var j = 4 * k; j < 4 * k + 4; j++)
                    isum += (TLow.Weight(blk + 2, j) + offset) * a.Qs[32 * b + j];
                lanes[k] = MathF.FusedMultiplyAdd(isum, d, lanes[k]);
            }
        }
        return BlockDot<TLow>.Hsum8(lanes) + mins;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        TokenLoop.Four(&Scalar, w, act, actStride, cols, y, yStride);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx2Dot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var a = new Q8Act(act, cols);
        var s = ActivationQuant.Q8_1S(act, cols);
        Vector256<float> acc = default;
        var mins = 0f;
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * Bytes;
            acc = Step(TLow.Unpack(blk + 2), a, b, Vector256.Create(Fp16.ToSingle(*(ushort*)blk)), acc);
            mins = MathF.FusedMultiplyAdd(Fp16.ToSingle(*(ushort*)(blk + 2)), s[b], mins);
        }
        return BlockDot<TLow>.Hsum8(acc) + mins;
    }

    /// <summary>One row against four tokens: each block unpacked once, four independent chains (each token's in the one-token order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        Q8Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        float* s0 = ActivationQuant.Q8_1S(act, cols), s1 = ActivationQuant.Q8_1S(act + actStride, cols),
            s2 = ActivationQuant.Q8_1S(act + 2 * actStride, cols), s3 = ActivationQuant.Q8_1S(act + 3 * actStride, cols);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        float m0 = 0, m1 = 0, m2 = 0, m3 = 0;
        for (var b = 0; b < nb; b++)
        {
            var blk = w + b * Bytes;
            var q = TLow.Unpack(blk + 2);
            var dw = Vector256.Create(Fp16.ToSingle(*(ushort*)blk));
            var m = Fp16.ToSingle(*(ushort*)(blk + 2));
            a0 = Step(q, x0, b, dw, a0);
            a1 = Step(q, x1, b, dw, a1);
            a2 = Step(q, x2, b, dw, a2);
            a3 = Step(q, x3, b, dw, a3);
            m0 = MathF.FusedMultiplyAdd(m, s0[b], m0);
            m1 = MathF.FusedMultiplyAdd(m, s1[b], m1);
            m2 = MathF.FusedMultiplyAdd(m, s2[b], m2);
            m3 = MathF.FusedMultiplyAdd(m, s3[b], m3);
        }
        y[0] = BlockDot<TLow>.Hsum8(a0) + m0;
        y[yStride] = BlockDot<TLow>.Hsum8(a1) + m1;
        y[2 * yStride] = BlockDot<TLow>.Hsum8(a2) + m2;
        y[3 * yStride] = BlockDot<TLow>.Hsum8(a3) + m3;
    }

    /// <summary>acc + (exact lane sums of block b) x (weight scale x activation scale), fused, as <see cref="Avx2Dot"/> takes each block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step(Vector256<byte> q, in Q8Act a, int b, Vector256<float> dw, Vector256<float> acc)
    {
        var p32 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, Vector256.Load(a.Qs + 32 * b)), Vector256<short>.One);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(p32), dw * Vector256.Load(a.Dv + 8 * b), acc);
    }
}

/// <summary>
/// Dot products of IQ4_NL blocks (a scale and 32 four-bit indices into ggml's 16 non-uniform levels) with Q8_0
/// activations, in llama.cpp's AVX2 order: even and odd blocks into two accumulators of eight lanes (lane k: the exact
/// integer products 4k..4k+3), each by one fused multiply-add with d_y x d, the two added before
/// <see cref="BlockDot{TB}.Hsum8"/>; a last odd block after that, by its integer sum times its scales.
/// </summary>
internal static unsafe class IQ4NLDot
{
    private const int Bytes = 18;

    private static int Level(byte* blk, int j) =>
        ReferenceQuant.IQ4NLValues[j < 16 ? blk[2 + j] & 0xF : blk[2 + j - 16] >> 4];

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Scalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var a = new Q8Act(act, cols);
        var lanes = stackalloc float[16]; // [0, 8): even blocks, [8, 16): odd ones
        for (var k = 0; k < 16; k++)
            lanes[k] = 0;
        for (var b = 0; b < (nb & ~1); b++)
        {
            var blk = w + b * Bytes;
            var d = a.D[b] * Fp16.ToSingle(*(ushort*)blk);
            var bank = (b & 1) * 8;
            for (var k = 0; k < 8; k++)
            {
                var isum = 0;
                for (var j = 4 * k; j < 4 * k + 4; j++)
                    isum += Level(blk, j) * a.Qs[32 * b + j];
                lanes[bank + k] = MathF.FusedMultiplyAdd(d, isum, lanes[bank + k]);
            }
        }
        return Finish(lanes, w, a, nb);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx2Dot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var a = new Q8Act(act, cols);
        var table = Table();
        Vector256<float> even = default, odd = default;
        for (var b = 0; b + 1 < nb; b += 2)
        {
            var qe = Levels(table, w + b * Bytes);
            var qo = Levels(table, w + (b + 1) * Bytes);
            even = Step(Avx2.Abs(qe), qe, Scale(w, b), a, b, even);
            odd = Step(Avx2.Abs(qo), qo, Scale(w, b + 1), a, b + 1, odd);
        }
        return Finish(even, odd, w, a, nb);
    }

    /// <summary>One row against four tokens: each pair of blocks unpacked once, each token's two chains as in <see cref="Avx2Dot"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        Q8Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        var table = Table();
        Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default, o0 = default, o1 = default, o2 = default, o3 = default;
        for (var b = 0; b + 1 < nb; b += 2)
        {
            var (qe, qo) = (Levels(table, w + b * Bytes), Levels(table, w + (b + 1) * Bytes));
            var (ue, uo) = (Avx2.Abs(qe), Avx2.Abs(qo));
            var (de, @do) = (Scale(w, b), Scale(w, b + 1));
            e0 = Step(ue, qe, de, x0, b, e0);
            o0 = Step(uo, qo, @do, x0, b + 1, o0);
            e1 = Step(ue, qe, de, x1, b, e1);
            o1 = Step(uo, qo, @do, x1, b + 1, o1);
            e2 = Step(ue, qe, de, x2, b, e2);
            o2 = Step(uo, qo, @do, x2, b + 1, o2);
            e3 = Step(ue, qe, de, x3, b, e3);
            o3 = Step(uo, qo, @do, x3, b + 1, o3);
        }
        y[0] = Finish(e0, o0, w, x0, nb);
        y[yStride] = Finish(e1, o1, w, x1, nb);
        y[2 * yStride] = Finish(e2, o2, w, x2, nb);
        y[3 * yStride] = Finish(e3, o3, w, x3, nb);
    }

    /// <summary>
    /// Two consecutive rows against four tokens: sixteen chains (each (row, token)'s even and odd ones, as in
    /// <see cref="Avx2Dot"/>), each activation block loaded once for both rows. Needs the 32 vector registers of the
    /// AVX-512 path; results go to <c>y[t * yStride + r]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512Dot2x4(byte* w, nint rowBytes, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        var v = w + rowBytes;
        Q8Act x0 = new(act, cols), x1 = new(act + actStride, cols), x2 = new(act + 2 * actStride, cols), x3 = new(act + 3 * actStride, cols);
        var table = Table();
        Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default, o0 = default, o1 = default, o2 = default, o3 = default;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default, p0 = default, p1 = default, p2 = default, p3 = default;
        for (var b = 0; b + 1 < nb; b += 2)
        {
            var (qe, re) = (Levels(table, w + b * Bytes), Levels(table, v + b * Bytes));
            var (ue, se) = (Avx2.Abs(qe), Avx2.Abs(re));
            var (de, ge) = (Scale(w, b), Scale(v, b));
            e0 = Step(ue, qe, de, x0, b, e0);
            f0 = Step(se, re, ge, x0, b, f0);
            e1 = Step(ue, qe, de, x1, b, e1);
            f1 = Step(se, re, ge, x1, b, f1);
            e2 = Step(ue, qe, de, x2, b, e2);
            f2 = Step(se, re, ge, x2, b, f2);
            e3 = Step(ue, qe, de, x3, b, e3);
            f3 = Step(se, re, ge, x3, b, f3);
            var (qo, ro) = (Levels(table, w + (b + 1) * Bytes), Levels(table, v + (b + 1) * Bytes));
            var (uo, so) = (Avx2.Abs(qo), Avx2.Abs(ro));
            var (@do, go) = (Scale(w, b + 1), Scale(v, b + 1));
            o0 = Step(uo, qo, @do, x0, b + 1, o0);
            p0 = Step(so, ro, go, x0, b + 1, p0);
            o1 = Step(uo, qo, @do, x1, b + 1, o1);
            p1 = Step(so, ro, go, x1, b + 1, p1);
            o2 = Step(uo, qo, @do, x2, b + 1, o2);
            p2 = Step(so, ro, go, x2, b + 1, p2);
            o3 = Step(uo, qo, @do, x3, b + 1, o3);
            p3 = Step(so, ro, go, x3, b + 1, p3);
        }
        y[0] = Finish(e0, o0, w, x0, nb);
        y[1] = Finish(f0, p0, v, x0, nb);
        y[yStride] = Finish(e1, o1, w, x1, nb);
        y[yStride + 1] = Finish(f1, p1, v, x1, nb);
        y[2 * yStride] = Finish(e2, o2, w, x2, nb);
        y[2 * yStride + 1] = Finish(f2, p2, v, x2, nb);
        y[3 * yStride] = Finish(e3, o3, w, x3, nb);
        y[3 * yStride + 1] = Finish(f3, p3, v, x3, nb);
    }

    private static Vector256<byte> Table() => Vector256.Create(Vector128.Create((ReadOnlySpan<sbyte>)ReferenceQuant.IQ4NLValues)).AsByte();

    /// <summary>Block <paramref name="blk"/>'s 32 levels, signed, in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Levels(Vector256<byte> table, byte* blk) => Avx2.Shuffle(table, Q4_0Block.Unpack(blk)).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Scale(byte* w, int b) => Fp16.ToSingle(*(ushort*)(w + b * Bytes));

    /// <summary>
    /// acc + d_y d x (exact lane sums of the block's levels times the activations), fused; <paramref name="abs"/> is
    /// |<paramref name="q"/>|, taken once per block. The scale product comes from the activations' eight copies of d_y
    /// (the same float product as d_y x d, with no broadcast per token).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step(Vector256<byte> abs, Vector256<sbyte> q, float d, in Q8Act a, int b, Vector256<float> acc)
    {
        var x = Vector256.Load(a.Qs + 32 * b);
        var p32 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(abs, Avx2.Sign(x, q)), Vector256<short>.One);
        return Fma.MultiplyAdd(Vector256.Load(a.Dv + 8 * b) * Vector256.Create(d), Avx.ConvertToVector256Single(p32), acc);
    }

    private static float Finish(Vector256<float> even, Vector256<float> odd, byte* w, in Q8Act a, int nb)
    {
        var lanes = stackalloc float[16];
        even.Store(lanes);
        odd.Store(lanes + 8);
        return Finish(lanes, w, a, nb);
    }

    /// <summary>The two banks added lane by lane, <c>hsum_float_8</c>, then a last odd block in ggml's scalar form.</summary>
    private static float Finish(float* lanes, byte* w, in Q8Act a, int nb)
    {
        var sum = stackalloc float[8];
        for (var k = 0; k < 8; k++)
            sum[k] = lanes[k] + lanes[8 + k];
        var total = BlockDot<Q4_0Block>.Hsum8(sum);
        if (nb % 2 == 1)
        {
            var b = nb - 1;
            var blk = w + b * Bytes;
            var d = a.D[b] * Fp16.ToSingle(*(ushort*)blk);
            int sumi1 = 0, sumi2 = 0;
            for (var j = 0; j < 16; j++)
            {
                sumi1 += a.Qs[32 * b + j] * Level(blk, j);
                sumi2 += a.Qs[32 * b + j + 16] * Level(blk, j + 16);
            }
            total = MathF.FusedMultiplyAdd(d, sumi1 + sumi2, total);
        }
        return total;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        TokenLoop.Four(&Scalar, w, act, actStride, cols, y, yStride);
}
