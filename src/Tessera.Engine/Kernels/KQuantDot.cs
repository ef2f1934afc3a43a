using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>
/// Dot products of K-quant rows (Q4_K, Q5_K, Q6_K) with Q8_K activations, in llama.cpp's float order (its AVX2 kernels):
/// each 256-weight super-block reduces to eight exact integer lanes (lane k: the scaled products of weights 4k..4k+3 of
/// every 32-weight chunk) that enter eight float accumulators by one fused multiply-add each; Q4_K/Q5_K mins go through
/// four more lanes. The sums at the end follow llama.cpp too, so every path (scalar, AVX2, AVX-512) gives the same bits
/// as each other and as llama.cpp.
/// </summary>
internal static unsafe class KQuantDot
{
    private const int Q4KBytes = 144;
    private const int Q5KBytes = 176;
    private const int Q6KBytes = 210;

    /// <summary>Float accumulators of one dot product: eight lanes for the scaled products, four for the mins.</summary>
    internal struct Lanes
    {
        public Vector256<float> Acc;
        public Vector128<float> Mins;

        /// <summary>One super-block: <c>acc += (dx * dw) * lanes</c> and <c>mins += (-dx * dmin) * minLanes</c>, fused.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Vector256<int> lanes, Vector128<int> minLanes, float dx, float dw, float dmin)
        {
            Add(lanes, dx, dw);
            Mins = Fma.MultiplyAdd(Vector128.Create(-dx * dmin), Sse2.ConvertToVector128Single(minLanes), Mins);
        }

        /// <summary>One Q6_K super-block (no mins): <c>acc += (dx * dw) * lanes</c>, fused.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Vector256<int> lanes, float dx, float dw) =>
            Acc = Fma.MultiplyAdd(Vector256.Create(dx * dw), Avx.ConvertToVector256Single(lanes), Acc);

        /// <summary>Q2_K's mins in the same eight lanes, before its scaled products: <c>acc += (-dx * dmin) * minLanes</c>, fused.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void AddMins8(Vector256<int> minLanes, float dx, float dmin) =>
            Acc = Fma.MultiplyAdd(Vector256.Create(-dx * dmin), Avx.ConvertToVector256Single(minLanes), Acc);

        /// <summary>llama.cpp's ending of a Q6_K product: <c>hsum_float_8(acc)</c>.</summary>
        public readonly float Total8() => BlockDot<Q8_0Block>.Hsum8(Acc);

        /// <summary>llama.cpp's ending: <c>hsum_float_8(acc)</c> plus the mins' (m0 + m2) + (m1 + m3).</summary>
        public readonly float Total() => BlockDot<Q8_0Block>.Hsum8(Acc) + ((Mins.GetElement(0) + Mins.GetElement(2)) + (Mins.GetElement(1) + Mins.GetElement(3)));
    }

    /// <summary>The scalar form of <see cref="Lanes"/> (same operations, one value at a time).</summary>
    internal struct ScalarLanes
    {
        private fixed float _acc[8];
        private fixed float _mins[4];

        public void Add(int* lanes, int* minLanes, float dx, float dw, float dmin)
        {
            Add(lanes, dx, dw);
            var m = -dx * dmin;
            for (var k = 0; k < 4; k++)
                _mins[k] = MathF.FusedMultiplyAdd(m, minLanes[k], _mins[k]);
        }

        /// <summary>One Q6_K super-block (no mins).</summary>
        public void Add(int* lanes, float dx, float dw)
        {
            var d = dx * dw;
            for (var k = 0; k < 8; k++)
                _acc[k] = MathF.FusedMultiplyAdd(d, lanes[k], _acc[k]);
        }

        /// <summary>Q2_K's mins in the eight lanes (see <see cref="Lanes.AddMins8"/>).</summary>
        public void AddMins8(int* minLanes, float dx, float dmin)
        {
            var m = -dx * dmin;
            for (var k = 0; k < 8; k++)
                _acc[k] = MathF.FusedMultiplyAdd(m, minLanes[k], _acc[k]);
        }

        public readonly float Total8() => ((_acc[0] + _acc[4]) + (_acc[2] + _acc[6])) + ((_acc[1] + _acc[5]) + (_acc[3] + _acc[7]));

        public readonly float Total() => Total8() + ((_mins[0] + _mins[2]) + (_mins[1] + _mins[3]));
    }

    /// <summary>Lane m: mins[2m] * chunk sum 2m + mins[2m+1] * chunk sum 2m+1 (chunk sums from pairs of 16-value sums).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> MinLanes(ulong mins, short* bsums) => MinLanes(mins, ChunkSums(bsums));

    /// <summary>The eight 32-value chunk sums of a token's sixteen block sums (shared by the rows of a tile).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<short> ChunkSums(short* bsums)
    {
        var b = Vector256.Load(bsums);
        return Ssse3.HorizontalAdd(b.GetLower(), b.GetUpper());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> MinLanes(ulong mins, Vector128<short> chunkSums) =>
        Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(Vector128.CreateScalar(mins).AsByte()), chunkSums);

    private static void ScalarMinLanes(ulong mins, short* bsums, int* lanes)
    {
        for (var m = 0; m < 4; m++)
        {
            var even = bsums[4 * m] + bsums[4 * m + 1];
            var odd = bsums[4 * m + 2] + bsums[4 * m + 3];
            lanes[m] = (int)((mins >> (16 * m)) & 0xFF) * even + (int)((mins >> (16 * m + 8)) & 0xFF) * odd;
        }
    }

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
        var acc = new ScalarLanes();
        var lanes = stackalloc int[8];
        var minLanes = stackalloc int[4];
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q4KBytes;
            UnpackScales(blk + 4, out var scales, out var mins);
            var qs = blk + 16;
            var x = xq + 256 * sb;
            for (var k = 0; k < 8; k++)
            {
                var lane = 0;
                for (var c = 0; c < 4; c++)
                {
                    int lo = 0, hi = 0;
                    for (var l = 4 * k; l < 4 * k + 4; l++)
                    {
                        lo += (qs[32 * c + l] & 0xF) * x[64 * c + l];
                        hi += (qs[32 * c + l] >> 4) * x[64 * c + 32 + l];
                    }
                    lane += (int)((scales >> (16 * c)) & 0xFF) * lo + (int)((scales >> (16 * c + 8)) & 0xFF) * hi;
                }
                lanes[k] = lane;
            }
            ScalarMinLanes(mins, bsums + 16 * sb, minLanes);
            acc.Add(lanes, minLanes, xd[sb], Fp16.ToSingle(*(ushort*)blk), Fp16.ToSingle(*(ushort*)(blk + 2)));
        }
        return acc.Total();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4KScalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        TokenLoop.Four(&Q4KScalar, w, act, actStride, cols, y, yStride);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Bcast(ulong packed, int index) => Vector256.Create((short)((packed >> (8 * index)) & 0xFF));

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
        var lanes = new Lanes();
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
            lanes.Add(acc, MinLanes(mins, bsums + 16 * sb), xd[sb], Fp16.ToSingle(*(ushort*)blk), Fp16.ToSingle(*(ushort*)(blk + 2)));
        }
        return lanes.Total();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4KAvx2x4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        Tiles<Q4KChunks>.Dot4(w, act, actStride, cols, y, yStride);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q4KAvx2x2x4(byte* w, nint rowBytes, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        Tiles<Q4KChunks>.Dot2x4(w, rowBytes, act, actStride, cols, y, yStride);

    // ======================= Q5_K =======================

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q5KScalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        var acc = new ScalarLanes();
        var lanes = stackalloc int[8];
        var minLanes = stackalloc int[4];
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q5KBytes;
            UnpackScales(blk + 4, out var scales, out var mins);
            var qh = blk + 16;
            var qs = blk + 48;
            var x = xq + 256 * sb;
            for (var k = 0; k < 8; k++)
            {
                var lane = 0;
                for (var c = 0; c < 4; c++)
                {
                    int lo = 0, hi = 0;
                    for (var l = 4 * k; l < 4 * k + 4; l++)
                    {
                        lo += ((qs[32 * c + l] & 0xF) | (((qh[l] >> (2 * c)) & 1) << 4)) * x[64 * c + l];
                        hi += ((qs[32 * c + l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4)) * x[64 * c + 32 + l];
                    }
                    lane += (int)((scales >> (16 * c)) & 0xFF) * lo + (int)((scales >> (16 * c + 8)) & 0xFF) * hi;
                }
                lanes[k] = lane;
            }
            ScalarMinLanes(mins, bsums + 16 * sb, minLanes);
            acc.Add(lanes, minLanes, xd[sb], Fp16.ToSingle(*(ushort*)blk), Fp16.ToSingle(*(ushort*)(blk + 2)));
        }
        return acc.Total();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q5KScalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        TokenLoop.Four(&Q5KScalar, w, act, actStride, cols, y, yStride);

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
        var lanes = new Lanes();
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
            lanes.Add(acc, MinLanes(mins, bsums + 16 * sb), xd[sb], Fp16.ToSingle(*(ushort*)blk), Fp16.ToSingle(*(ushort*)(blk + 2)));
        }
        return lanes.Total();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q5KAvx2x4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        Tiles<Q5KChunks>.Dot4(w, act, actStride, cols, y, yStride);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q5KAvx2x2x4(byte* w, nint rowBytes, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        Tiles<Q5KChunks>.Dot2x4(w, rowBytes, act, actStride, cols, y, yStride);

    /// <summary>How a Q4_K or Q5_K super-block gives its 64-weight chunks as unsigned bytes (first 32, last 32).</summary>
    private interface IChunks
    {
        static abstract int Bytes { get; }

        /// <summary>Chunk <paramref name="c"/> (weights 64c..64c+63) of super-block <paramref name="blk"/>: its first and last 32 weights.</summary>
        static abstract void Chunk(byte* blk, int c, out Vector256<byte> lo, out Vector256<byte> hi);
    }

    private readonly struct Q4KChunks : IChunks
    {
        public static int Bytes => Q4KBytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Chunk(byte* blk, int c, out Vector256<byte> lo, out Vector256<byte> hi)
        {
            var mask = Vector256.Create((byte)0x0F);
            var raw = Vector256.Load(blk + 16 + 32 * c);
            lo = raw & mask;
            hi = Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & mask;
        }
    }

    private readonly struct Q5KChunks : IChunks
    {
        public static int Bytes => Q5KBytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Chunk(byte* blk, int c, out Vector256<byte> lo, out Vector256<byte> hi) =>
            Q5KUnpack(blk, Vector256.Load(blk + 16), c, out lo, out hi);
    }

    /// <summary>
    /// Q4_K/Q5_K tiles: one row against four tokens, two rows against four tokens. Each chunk is unpacked once for the
    /// tokens, each token's block sums are paired once for the rows; every (row, token) keeps the one-token kernel's
    /// exact integer lanes and its float operations in the same order, so the bits are the same.
    /// </summary>
    private static class Tiles<TC> where TC : struct, IChunks
    {
        /// <summary>The integer lanes of four tokens against one row.</summary>
        private struct Four
        {
            public Vector256<int> C0, C1, C2, C3;
        }

        /// <summary>One super-block of one row against four tokens' activations (of that super-block): the exact lanes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Four SuperBlock(byte* blk, ulong scales, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3)
        {
            // Written out so that each chunk's shifts and scale positions are constants once inlined.
            var f = new Four();
            Chunk4(blk, scales, x0, x1, x2, x3, 0, ref f);
            Chunk4(blk, scales, x0, x1, x2, x3, 1, ref f);
            Chunk4(blk, scales, x0, x1, x2, x3, 2, ref f);
            Chunk4(blk, scales, x0, x1, x2, x3, 3, ref f);
            return f;
        }

        /// <summary>Chunk <paramref name="c"/> unpacked once, against four tokens.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Chunk4(byte* blk, ulong scales, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3, int c, ref Four f)
        {
            TC.Chunk(blk, c, out var lo, out var hi);
            Vector256<short> slo = Bcast(scales, 2 * c), shi = Bcast(scales, 2 * c + 1);
            f.C0 += Q4KChunk(lo, hi, x0 + 64 * c, slo, shi);
            f.C1 += Q4KChunk(lo, hi, x1 + 64 * c, slo, shi);
            f.C2 += Q4KChunk(lo, hi, x2 + 64 * c, slo, shi);
            f.C3 += Q4KChunk(lo, hi, x3 + 64 * c, slo, shi);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
        {
            var nb = cols / 256;
            byte* a0 = act, a1 = act + actStride, a2 = act + 2 * actStride, a3 = act + 3 * actStride;
            sbyte* q0 = ActivationQuant.Q8_KQs(a0), q1 = ActivationQuant.Q8_KQs(a1), q2 = ActivationQuant.Q8_KQs(a2), q3 = ActivationQuant.Q8_KQs(a3);
            float* d0 = ActivationQuant.Q8_KD(a0, cols), d1 = ActivationQuant.Q8_KD(a1, cols), d2 = ActivationQuant.Q8_KD(a2, cols), d3 = ActivationQuant.Q8_KD(a3, cols);
            short* b0 = ActivationQuant.Q8_KBsums(a0, cols), b1 = ActivationQuant.Q8_KBsums(a1, cols), b2 = ActivationQuant.Q8_KBsums(a2, cols), b3 = ActivationQuant.Q8_KBsums(a3, cols);
            Lanes s0 = default, s1 = default, s2 = default, s3 = default;
            for (var sb = 0; sb < nb; sb++)
            {
                var blk = w + sb * TC.Bytes;
                UnpackScales(blk + 4, out var scales, out var mins);
                var off = 256 * sb;
                var f = SuperBlock(blk, scales, q0 + off, q1 + off, q2 + off, q3 + off);
                float dw = Fp16.ToSingle(*(ushort*)blk), dmin = Fp16.ToSingle(*(ushort*)(blk + 2));
                s0.Add(f.C0, MinLanes(mins, b0 + 16 * sb), d0[sb], dw, dmin);
                s1.Add(f.C1, MinLanes(mins, b1 + 16 * sb), d1[sb], dw, dmin);
                s2.Add(f.C2, MinLanes(mins, b2 + 16 * sb), d2[sb], dw, dmin);
                s3.Add(f.C3, MinLanes(mins, b3 + 16 * sb), d3[sb], dw, dmin);
            }
            y[0] = s0.Total();
            y[yStride] = s1.Total();
            y[2 * yStride] = s2.Total();
            y[3 * yStride] = s3.Total();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Dot2x4(byte* w, nint rowBytes, byte* act, nint actStride, int cols, float* y, nint yStride)
        {
            var nb = cols / 256;
            var v = w + rowBytes;
            byte* a0 = act, a1 = act + actStride, a2 = act + 2 * actStride, a3 = act + 3 * actStride;
            sbyte* q0 = ActivationQuant.Q8_KQs(a0), q1 = ActivationQuant.Q8_KQs(a1), q2 = ActivationQuant.Q8_KQs(a2), q3 = ActivationQuant.Q8_KQs(a3);
            float* d0 = ActivationQuant.Q8_KD(a0, cols), d1 = ActivationQuant.Q8_KD(a1, cols), d2 = ActivationQuant.Q8_KD(a2, cols), d3 = ActivationQuant.Q8_KD(a3, cols);
            short* b0 = ActivationQuant.Q8_KBsums(a0, cols), b1 = ActivationQuant.Q8_KBsums(a1, cols), b2 = ActivationQuant.Q8_KBsums(a2, cols), b3 = ActivationQuant.Q8_KBsums(a3, cols);
            Lanes s0 = default, s1 = default, s2 = default, s3 = default;
            Lanes t0 = default, t1 = default, t2 = default, t3 = default;
            for (var sb = 0; sb < nb; sb++)
            {
                var blk = w + sb * TC.Bytes;
                var vlk = v + sb * TC.Bytes;
                UnpackScales(blk + 4, out var scales, out var mins);
                UnpackScales(vlk + 4, out var vscales, out var vmins);
                var off = 256 * sb;
                var f = SuperBlock(blk, scales, q0 + off, q1 + off, q2 + off, q3 + off);
                var g = SuperBlock(vlk, vscales, q0 + off, q1 + off, q2 + off, q3 + off);
                float dw = Fp16.ToSingle(*(ushort*)blk), dmin = Fp16.ToSingle(*(ushort*)(blk + 2));
                float dv = Fp16.ToSingle(*(ushort*)vlk), vmin = Fp16.ToSingle(*(ushort*)(vlk + 2));
                var cs = ChunkSums(b0 + 16 * sb);
                s0.Add(f.C0, MinLanes(mins, cs), d0[sb], dw, dmin);
                t0.Add(g.C0, MinLanes(vmins, cs), d0[sb], dv, vmin);
                cs = ChunkSums(b1 + 16 * sb);
                s1.Add(f.C1, MinLanes(mins, cs), d1[sb], dw, dmin);
                t1.Add(g.C1, MinLanes(vmins, cs), d1[sb], dv, vmin);
                cs = ChunkSums(b2 + 16 * sb);
                s2.Add(f.C2, MinLanes(mins, cs), d2[sb], dw, dmin);
                t2.Add(g.C2, MinLanes(vmins, cs), d2[sb], dv, vmin);
                cs = ChunkSums(b3 + 16 * sb);
                s3.Add(f.C3, MinLanes(mins, cs), d3[sb], dw, dmin);
                t3.Add(g.C3, MinLanes(vmins, cs), d3[sb], dv, vmin);
            }
            y[0] = s0.Total();
            y[1] = t0.Total();
            y[yStride] = s1.Total();
            y[yStride + 1] = t1.Total();
            y[2 * yStride] = s2.Total();
            y[2 * yStride + 1] = t2.Total();
            y[3 * yStride] = s3.Total();
            y[3 * yStride + 1] = t3.Total();
        }
    }

    // ======================= Q6_K =======================

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q6KScalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var acc = new ScalarLanes();
        var lanes = stackalloc int[8];
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q6KBytes;
            var sc = (sbyte*)(blk + 192);
            var x = xq + 256 * sb;
            for (var lane = 0; lane < 8; lane++)
            {
                var sum = 0;
                for (var h = 0; h < 2; h++)
                {
                    var ql = blk + 64 * h;
                    var qh = blk + 128 + 32 * h;
                    for (var k = 0; k < 4; k++)
                    {
                        // Weights 128h + 32k + l: low nibble (k < 2) or high nibble of ql[l + 32 (k & 1)], bits 2k of qh[l];
                        // the first 16 of a group take scale 2k, the last 16 scale 2k + 1.
                        var part = 0;
                        for (var l = 4 * lane; l < 4 * lane + 4; l++)
                        {
                            var low = k < 2 ? ql[l + 32 * (k & 1)] & 0xF : ql[l + 32 * (k & 1)] >> 4;
                            var q = (low | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                            part += q * x[128 * h + 32 * k + l];
                        }
                        sum += sc[8 * h + 2 * k + (lane >= 4 ? 1 : 0)] * part;
                    }
                }
                lanes[lane] = sum;
            }
            acc.Add(lanes, xd[sb], Fp16.ToSingle(*(ushort*)(blk + 208)));
        }
        return acc.Total8();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q6KScalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        TokenLoop.Four(&Q6KScalar, w, act, actStride, cols, y, yStride);

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

    /// <summary>Scales 2i and 2i+1 as 8 + 8 i16 lanes (matching the i16 pairs of a 32-byte maddubs): the scales of a 32-weight group whose halves have one each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<short> Q6KScalePair(Vector128<sbyte> scales, int i) =>
        Avx2.ConvertToVector256Int16(Ssse3.Shuffle(scales,
            Vector128.Create((sbyte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1) + Vector128.Create((sbyte)(2 * i))));

    /// <summary>One group's scaled products, the +32 offset taken off pair by pair (as llama.cpp, so the lanes match).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q6KGroup(Vector256<byte> g, sbyte* x, Vector256<short> scales)
    {
        var xs = Vector256.Load(x);
        var p16 = Avx2.MultiplyAddAdjacent(g, xs) - Avx2.MultiplyAddAdjacent(Vector256.Create((byte)32), xs);
        return Avx2.MultiplyAddAdjacent(p16, scales);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q6KAvx2(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        var lanes = new Lanes();
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q6KBytes;
            var scales = Vector128.Load((sbyte*)(blk + 192));
            var acc = Vector256<int>.Zero;
            for (var h = 0; h < 2; h++)
            {
                Q6KUnpack(blk, h, out var g0, out var g1, out var g2, out var g3);
                var x = xq + 256 * sb + 128 * h;
                acc += Q6KGroup(g0, x, Q6KScalePair(scales, 4 * h));
                acc += Q6KGroup(g1, x + 32, Q6KScalePair(scales, 4 * h + 1));
                acc += Q6KGroup(g2, x + 64, Q6KScalePair(scales, 4 * h + 2));
                acc += Q6KGroup(g3, x + 96, Q6KScalePair(scales, 4 * h + 3));
            }
            lanes.Add(acc, xd[sb], Fp16.ToSingle(*(ushort*)(blk + 208)));
        }
        return lanes.Total8();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q6KAvx2x4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 256;
        byte* a0 = act, a1 = act + actStride, a2 = act + 2 * actStride, a3 = act + 3 * actStride;
        sbyte* q0 = ActivationQuant.Q8_KQs(a0), q1 = ActivationQuant.Q8_KQs(a1), q2 = ActivationQuant.Q8_KQs(a2), q3 = ActivationQuant.Q8_KQs(a3);
        Lanes s0 = default, s1 = default, s2 = default, s3 = default;
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * Q6KBytes;
            var scales = Vector128.Load((sbyte*)(blk + 192));
            Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default;
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
            s0.Add(c0, ActivationQuant.Q8_KD(a0, cols)[sb], dw);
            s1.Add(c1, ActivationQuant.Q8_KD(a1, cols)[sb], dw);
            s2.Add(c2, ActivationQuant.Q8_KD(a2, cols)[sb], dw);
            s3.Add(c3, ActivationQuant.Q8_KD(a3, cols)[sb], dw);
        }
        y[0] = s0.Total8();
        y[yStride] = s1.Total8();
        y[2 * yStride] = s2.Total8();
        y[3 * yStride] = s3.Total8();
    }
}
