using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>
/// Dot products of K-quant rows (Q4_K, Q5_K, Q6_K) with Q8_K activations. Each 256-weight super-block reduces to exact
/// integers (scaled quant products, and min/offset corrections through the activation's 16-value sums) before one
/// fixed float step, so every path (scalar, AVX2, AVX-512) gives bit-identical results.
/// </summary>
internal static unsafe class KQuantDot
{
    private const int Q4KBytes = 144;
    private const int Q5KBytes = 176;
    private const int Q6KBytes = 210;

    /// <summary>The one float step per super-block, shared by all paths.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Accumulate(float sum, float dw, float dmin, float dx, int isum, int msum) =>
        sum + dw * dx * isum - dmin * dx * msum;

    /// <summary>The 8 six-bit scales (bytes of <paramref name="scales"/>) and mins of a Q4_K/Q5_K super-block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UnpackScales(byte* packed, out ulong scales, out ulong mins)
    {
        const uint k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
        uint u0 = *(uint*)packed, u1 = *(uint*)(packed + 4), u2 = *(uint*)(packed + 8);
        var s0 = u0 & k1;
        var s1 = (u2 & k2) | (((u0 >> 6) & k3) << 4);
        var m0 = u1 & k1;
        var m1 = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4);
        scales = s0 | ((ulong)s1 << 32);
        mins = m0 | ((ulong)m1 << 32);
    }

    // ======================= Q4_K =======================

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4KScalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        float sum = 0;
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q4KBytes;
            UnpackScales(blk + 4, out var scales, out var mins);
            var qs = blk + 16;
            var x = xq + 256 * sb;
            int isum = 0, msum = 0;
            for (var c = 0; c < 4; c++)
            {
                int lo = 0, hi = 0;
                for (var l = 0; l < 32; l++)
                {
                    lo += (qs[32 * c + l] & 0xF) * x[64 * c + l];
                    hi += (qs[32 * c + l] >> 4) * x[64 * c + 32 + l];
                }
                isum += (int)((scales >> (16 * c)) & 0xFF) * lo + (int)((scales >> (16 * c + 8)) & 0xFF) * hi;
            }
            for (var j = 0; j < 8; j++)
                msum += (int)((mins >> (8 * j)) & 0xFF) * (bsums[16 * sb + 2 * j] + bsums[16 * sb + 2 * j + 1]);
            sum = Accumulate(sum, Fp16.ToSingle(*(ushort*)blk), Fp16.ToSingle(*(ushort*)(blk + 2)), xd[sb], isum, msum);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4KScalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        for (var t = 0; t < 4; t++)
            y[t * yStride] = Q4KScalar(w, act + t * actStride, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Bcast(ulong packed, int index) => Vector256.Create((short)((packed >> (8 * index)) & 0xFF));

    /// <summary>sum_j m_j * (bsum[2j] + bsum[2j+1]) for the 8 mins of a super-block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MinSum(ulong mins, short* bsums)
    {
        var m = Vector128.CreateScalar(mins).AsByte();
        var pairs = Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m));
        return Vector256.Sum(Avx2.MultiplyAddAdjacent(Vector256.Load(bsums), pairs));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q4KChunk(Vector256<byte> lo, Vector256<byte> hi, sbyte* x, Vector256<short> slo, Vector256<short> shi) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(lo, Vector256.Load(x)), slo)
        + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(hi, Vector256.Load(x + 32)), shi);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4KAvx2(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        var mask = Vector256.Create((byte)0x0F);
        float sum = 0;
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q4KBytes;
            UnpackScales(blk + 4, out var scales, out var mins);
            var acc = Vector256<int>.Zero;
            for (var c = 0; c < 4; c++)
            {
                var raw = Vector256.Load(blk + 16 + 32 * c);
                acc += Q4KChunk(raw & mask, Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & mask,
                    xq + 256 * sb + 64 * c, Bcast(scales, 2 * c), Bcast(scales, 2 * c + 1));
            }
            var msum = MinSum(mins, bsums + 16 * sb);
            sum = Accumulate(sum, Fp16.ToSingle(*(ushort*)blk), Fp16.ToSingle(*(ushort*)(blk + 2)), xd[sb], Vector256.Sum(acc), msum);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4KAvx2x4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 256;
        byte* a0 = act, a1 = act + actStride, a2 = act + 2 * actStride, a3 = act + 3 * actStride;
        sbyte* q0 = ActivationQuant.Q8_KQs(a0), q1 = ActivationQuant.Q8_KQs(a1), q2 = ActivationQuant.Q8_KQs(a2), q3 = ActivationQuant.Q8_KQs(a3);
        var mask = Vector256.Create((byte)0x0F);
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q4KBytes;
            UnpackScales(blk + 4, out var scales, out var mins);
            Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default;
            for (var c = 0; c < 4; c++)
            {
                var raw = Vector256.Load(blk + 16 + 32 * c);
                var lo = raw & mask;
                var hi = Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & mask;
                var slo = Bcast(scales, 2 * c);
                var shi = Bcast(scales, 2 * c + 1);
                var off = 256 * sb + 64 * c;
                c0 += Q4KChunk(lo, hi, q0 + off, slo, shi);
                c1 += Q4KChunk(lo, hi, q1 + off, slo, shi);
                c2 += Q4KChunk(lo, hi, q2 + off, slo, shi);
                c3 += Q4KChunk(lo, hi, q3 + off, slo, shi);
            }
            float dw = Fp16.ToSingle(*(ushort*)blk), dmin = Fp16.ToSingle(*(ushort*)(blk + 2));
            s0 = Accumulate(s0, dw, dmin, ActivationQuant.Q8_KD(a0, cols)[sb], Vector256.Sum(c0), MinSum(mins, ActivationQuant.Q8_KBsums(a0, cols) + 16 * sb));
            s1 = Accumulate(s1, dw, dmin, ActivationQuant.Q8_KD(a1, cols)[sb], Vector256.Sum(c1), MinSum(mins, ActivationQuant.Q8_KBsums(a1, cols) + 16 * sb));
            s2 = Accumulate(s2, dw, dmin, ActivationQuant.Q8_KD(a2, cols)[sb], Vector256.Sum(c2), MinSum(mins, ActivationQuant.Q8_KBsums(a2, cols) + 16 * sb));
            s3 = Accumulate(s3, dw, dmin, ActivationQuant.Q8_KD(a3, cols)[sb], Vector256.Sum(c3), MinSum(mins, ActivationQuant.Q8_KBsums(a3, cols) + 16 * sb));
        }
        y[0] = s0;
        y[yStride] = s1;
        y[2 * yStride] = s2;
        y[3 * yStride] = s3;
    }

    // ======================= Q5_K =======================

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q5KScalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        float sum = 0;
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q5KBytes;
            UnpackScales(blk + 4, out var scales, out var mins);
            var qh = blk + 16;
            var qs = blk + 48;
            var x = xq + 256 * sb;
            int isum = 0, msum = 0;
            for (var c = 0; c < 4; c++)
            {
                int lo = 0, hi = 0;
                for (var l = 0; l < 32; l++)
                {
                    lo += ((qs[32 * c + l] & 0xF) | (((qh[l] >> (2 * c)) & 1) << 4)) * x[64 * c + l];
                    hi += ((qs[32 * c + l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4)) * x[64 * c + 32 + l];
                }
                isum += (int)((scales >> (16 * c)) & 0xFF) * lo + (int)((scales >> (16 * c + 8)) & 0xFF) * hi;
            }
            for (var j = 0; j < 8; j++)
                msum += (int)((mins >> (8 * j)) & 0xFF) * (bsums[16 * sb + 2 * j] + bsums[16 * sb + 2 * j + 1]);
            sum = Accumulate(sum, Fp16.ToSingle(*(ushort*)blk), Fp16.ToSingle(*(ushort*)(blk + 2)), xd[sb], isum, msum);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q5KScalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        for (var t = 0; t < 4; t++)
            y[t * yStride] = Q5KScalar(w, act + t * actStride, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q5KUnpack(byte* blk, Vector256<byte> qh, int c, out Vector256<byte> lo, out Vector256<byte> hi)
    {
        var mask = Vector256.Create((byte)0x0F);
        var raw = Vector256.Load(blk + 48 + 32 * c);
        var bitLo = Vector256.Create((byte)(1 << (2 * c)));
        var bitHi = Vector256.Create((byte)(2 << (2 * c)));
        var sixteen = Vector256.Create((byte)0x10);
        lo = (raw & mask) | (Vector256.Equals(qh & bitLo, bitLo) & sixteen);
        hi = (Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & mask) | (Vector256.Equals(qh & bitHi, bitHi) & sixteen);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q5KAvx2(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        float sum = 0;
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q5KBytes;
            UnpackScales(blk + 4, out var scales, out var mins);
            var qh = Vector256.Load(blk + 16);
            var acc = Vector256<int>.Zero;
            for (var c = 0; c < 4; c++)
            {
                Q5KUnpack(blk, qh, c, out var lo, out var hi);
                acc += Q4KChunk(lo, hi, xq + 256 * sb + 64 * c, Bcast(scales, 2 * c), Bcast(scales, 2 * c + 1));
            }
            var msum = MinSum(mins, bsums + 16 * sb);
            sum = Accumulate(sum, Fp16.ToSingle(*(ushort*)blk), Fp16.ToSingle(*(ushort*)(blk + 2)), xd[sb], Vector256.Sum(acc), msum);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q5KAvx2x4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        // Q5_K is rare in practice: the tile reuses the one-token kernel (same arithmetic per token).
        for (var t = 0; t < 4; t++)
            y[t * yStride] = Q5KAvx2(w, act + t * actStride, cols);
    }

    // ======================= Q6_K =======================

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q6KScalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        float sum = 0;
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q6KBytes;
            var sc = (sbyte*)(blk + 192);
            var x = xq + 256 * sb;
            var isum = 0;
            for (var h = 0; h < 2; h++)
            {
                var ql = blk + 64 * h;
                var qh = blk + 128 + 32 * h;
                for (var k = 0; k < 4; k++)
                {
                    // Weights 128h + 32k + l: low nibble (k < 2) or high nibble of ql[l + 32 (k & 1)], bits 2k of qh[l].
                    int s0 = 0, s1 = 0;
                    for (var l = 0; l < 32; l++)
                    {
                        var low = k < 2 ? ql[l + 32 * (k & 1)] & 0xF : ql[l + 32 * (k & 1)] >> 4;
                        var q = (low | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                        if (l < 16)
                            s0 += q * x[128 * h + 32 * k + l];
                        else
                            s1 += q * x[128 * h + 32 * k + l];
                    }
                    isum += sc[8 * h + 2 * k] * s0 + sc[8 * h + 2 * k + 1] * s1;
                }
            }
            sum = Accumulate(sum, Fp16.ToSingle(*(ushort*)(blk + 208)), 0, xd[sb], isum, 0);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q6KScalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        for (var t = 0; t < 4; t++)
            y[t * yStride] = Q6KScalar(w, act + t * actStride, cols);
    }

    /// <summary>The four 32-weight groups of half <paramref name="h"/> of a Q6_K super-block, unsigned (0..63).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6KUnpack(byte* blk, int h, out Vector256<byte> g0, out Vector256<byte> g1, out Vector256<byte> g2, out Vector256<byte> g3)
    {
        var mask = Vector256.Create((byte)0x0F);
        var three = Vector256.Create((byte)0x30);
        var l0 = Vector256.Load(blk + 64 * h);
        var l1 = Vector256.Load(blk + 64 * h + 32);
        var qh = Vector256.Load(blk + 128 + 32 * h).AsUInt16();
        g0 = (l0 & mask) | (Vector256.ShiftLeft(qh, 4).AsByte() & three);
        g1 = (l1 & mask) | (Vector256.ShiftLeft(qh, 2).AsByte() & three);
        g2 = (Vector256.ShiftRightLogical(l0.AsUInt16(), 4).AsByte() & mask) | (qh.AsByte() & three);
        g3 = (Vector256.ShiftRightLogical(l1.AsUInt16(), 4).AsByte() & mask) | (Vector256.ShiftRightLogical(qh, 2).AsByte() & three);
    }

    /// <summary>Scales of groups 2i and 2i+1 as 8 + 8 i16 lanes (matching the i16 pairs of a 32-byte maddubs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Q6KScalePair(Vector128<sbyte> scales, int i) =>
        Avx2.ConvertToVector256Int16(Ssse3.Shuffle(scales,
            Vector128.Create((sbyte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1) + Vector128.Create((sbyte)(2 * i))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q6KGroup(Vector256<byte> g, sbyte* x, Vector256<short> scales) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(g, Vector256.Load(x)), scales);

    /// <summary>32 * sum_j sc_j * bsum_j: the +32 offset of the 16 groups.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q6KOffset(Vector128<sbyte> scales, short* bsums) =>
        Vector256.ShiftLeft(Avx2.MultiplyAddAdjacent(Vector256.Load(bsums), Avx2.ConvertToVector256Int16(scales)), 5);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q6KAvx2(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        float sum = 0;
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q6KBytes;
            var scales = Vector128.Load((sbyte*)(blk + 192));
            var acc = -Q6KOffset(scales, bsums + 16 * sb);
            for (var h = 0; h < 2; h++)
            {
                Q6KUnpack(blk, h, out var g0, out var g1, out var g2, out var g3);
                var x = xq + 256 * sb + 128 * h;
                acc += Q6KGroup(g0, x, Q6KScalePair(scales, 4 * h));
                acc += Q6KGroup(g1, x + 32, Q6KScalePair(scales, 4 * h + 1));
                acc += Q6KGroup(g2, x + 64, Q6KScalePair(scales, 4 * h + 2));
                acc += Q6KGroup(g3, x + 96, Q6KScalePair(scales, 4 * h + 3));
            }
            sum = Accumulate(sum, Fp16.ToSingle(*(ushort*)(blk + 208)), 0, xd[sb], Vector256.Sum(acc), 0);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q6KAvx2x4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 256;
        byte* a0 = act, a1 = act + actStride, a2 = act + 2 * actStride, a3 = act + 3 * actStride;
        sbyte* q0 = ActivationQuant.Q8_KQs(a0), q1 = ActivationQuant.Q8_KQs(a1), q2 = ActivationQuant.Q8_KQs(a2), q3 = ActivationQuant.Q8_KQs(a3);
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q6KBytes;
            var scales = Vector128.Load((sbyte*)(blk + 192));
            var c0 = -Q6KOffset(scales, ActivationQuant.Q8_KBsums(a0, cols) + 16 * sb);
            var c1 = -Q6KOffset(scales, ActivationQuant.Q8_KBsums(a1, cols) + 16 * sb);
            var c2 = -Q6KOffset(scales, ActivationQuant.Q8_KBsums(a2, cols) + 16 * sb);
            var c3 = -Q6KOffset(scales, ActivationQuant.Q8_KBsums(a3, cols) + 16 * sb);
            for (var h = 0; h < 2; h++)
            {
                Q6KUnpack(blk, h, out var g0, out var g1, out var g2, out var g3);
                var off = 256 * sb + 128 * h;
                var sp0 = Q6KScalePair(scales, 4 * h);
                var sp1 = Q6KScalePair(scales, 4 * h + 1);
                var sp2 = Q6KScalePair(scales, 4 * h + 2);
                var sp3 = Q6KScalePair(scales, 4 * h + 3);
                c0 += Q6KGroup(g0, q0 + off, sp0) + Q6KGroup(g1, q0 + off + 32, sp1) + Q6KGroup(g2, q0 + off + 64, sp2) + Q6KGroup(g3, q0 + off + 96, sp3);
                c1 += Q6KGroup(g0, q1 + off, sp0) + Q6KGroup(g1, q1 + off + 32, sp1) + Q6KGroup(g2, q1 + off + 64, sp2) + Q6KGroup(g3, q1 + off + 96, sp3);
                c2 += Q6KGroup(g0, q2 + off, sp0) + Q6KGroup(g1, q2 + off + 32, sp1) + Q6KGroup(g2, q2 + off + 64, sp2) + Q6KGroup(g3, q2 + off + 96, sp3);
                c3 += Q6KGroup(g0, q3 + off, sp0) + Q6KGroup(g1, q3 + off + 32, sp1) + Q6KGroup(g2, q3 + off + 64, sp2) + Q6KGroup(g3, q3 + off + 96, sp3);
            }
            var dw = Fp16.ToSingle(*(ushort*)(blk + 208));
            s0 = Accumulate(s0, dw, 0, ActivationQuant.Q8_KD(a0, cols)[sb], Vector256.Sum(c0), 0);
            s1 = Accumulate(s1, dw, 0, ActivationQuant.Q8_KD(a1, cols)[sb], Vector256.Sum(c1), 0);
            s2 = Accumulate(s2, dw, 0, ActivationQuant.Q8_KD(a2, cols)[sb], Vector256.Sum(c2), 0);
            s3 = Accumulate(s3, dw, 0, ActivationQuant.Q8_KD(a3, cols)[sb], Vector256.Sum(c3), 0);
        }
        y[0] = s0;
        y[yStride] = s1;
        y[2 * yStride] = s2;
        y[3 * yStride] = s3;
    }
}
