using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>
/// Q4_K matrices regrouped eight rows at a time (llama.cpp repacks Q4_K so on x86 too: one activation broadcast serves
/// eight rows). Per (row, token) the arithmetic is the one-row kernel's (<see cref="KQuantDot"/>, llama.cpp's
/// <c>ggml_vec_dot_q4_K_q8_K</c> order): per super-block eight exact integer lanes and four for the mins, one fused
/// multiply-add each, its final sums; a 256-bit vector holds one lane of the eight rows. So every form gives the same bits.
/// </summary>
/// <remarks>
/// Per group of eight rows and per super-block, <see cref="GroupBlockBytes"/> (eight rows' 144 bytes, at the same place):
/// at 0 the eight rows' f16 d, at 16 their f16 dmin; at 32 the 6-bit scales and mins, split so vector code unpacks them
/// (<see cref="PackScales"/>); at 128, for chunk c = 0..3 and k = 0..7, 32 bytes whose lane r holds bytes
/// 32c+4k..32c+4k+3 of row r's quants (low nibbles: weights 64c+4k.., sub-block 2c; high: 64c+32+4k.., sub-block 2c+1).
/// The scales and mins are unpacked once per group and super-block (not per row), the nibbles once per pass of up to
/// <see cref="MaxTokens"/> tokens.
/// </remarks>
internal static unsafe class Q4_KRows8
{
    public const int Rows = 8;
    private const int BlockBytes = 144;
    private const int GroupBlockBytes = Rows * BlockBytes; // 1152
    private const int QsOffset = 128;

    /// <summary>The most tokens one pass of <see cref="GemmN"/> keeps accumulators for.</summary>
    private const int MaxTokens = 16;

    /// <summary>Rewrites <paramref name="rows"/> rows (a multiple of 8) of <paramref name="cols"/> Q4_K weights into the grouped layout.</summary>
    public static void Repack(byte* source, byte* destination, int rows, int cols)
    {
        if (rows % Rows != 0 || cols % 256 != 0)
            throw new ArgumentException($"Grouped Q4_K needs rows in eights and whole super-blocks, not {rows} x {cols}.");
        TokenLoop.Regroup(source, destination, rows, cols / 256, BlockBytes, &RegroupBlock);
    }

    private static void RegroupBlock(byte* first, nint rowBytes, byte* group)
    {
        var scales = stackalloc byte[64];
        var mins = stackalloc byte[64];
        for (var r = 0; r < Rows; r++)
        {
            var block = first + r * rowBytes;
            ((ushort*)group)[r] = *(ushort*)block;
            ((ushort*)group)[8 + r] = *(ushort*)(block + 2);
            for (var j = 0; j < 8; j++)
            {
                ReferenceQuant.ScaleMinK4(j, new ReadOnlySpan<byte>(block + 4, 12), out var s, out var m);
                scales[8 * j + r] = (byte)s;
                mins[16 * (j / 2) + 2 * r + (j & 1)] = (byte)m;
            }
            for (var c = 0; c < 4; c++)
                for (var k = 0; k < 8; k++)
                    *(uint*)(group + QsOffset + 256 * c + 32 * k + 4 * r) = *(uint*)(block + 16 + 32 * c + 4 * k);
        }
        PackScales(scales, mins, group + 32);
    }

    /// <summary>
    /// 64 scales (index 8j + r: sub-block j of row r) and 64 mins (16p + 2r + e: sub-block 2p+e of row r) of 6 bits
    /// into 96 bytes: the low nibbles of scales i and i+32 in byte i, of the mins in byte 32 + i, and the four values'
    /// top two bits in byte 64 + i.
    /// </summary>
    private static void PackScales(byte* scales, byte* mins, byte* packed)
    {
        for (var i = 0; i < 32; i++)
        {
            packed[i] = (byte)((scales[i] & 15) | ((scales[i + 32] & 15) << 4));
            packed[32 + i] = (byte)((mins[i] & 15) | ((mins[i + 32] & 15) << 4));
            packed[64 + i] = (byte)((scales[i] >> 4) | ((scales[i + 32] >> 4) << 2) | ((mins[i] >> 4) << 4) | ((mins[i + 32] >> 4) << 6));
        }
    }

    /// <summary>Scale (min) <paramref name="j"/> of row <paramref name="r"/> of a group block, one at a time.</summary>
    private static int Scale(byte* g, int r, int j) => Unpacked(g, 8 * j + r, 0);

    private static int Min(byte* g, int r, int j) => Unpacked(g, 16 * (j / 2) + 2 * r + (j & 1), 1);

    private static int Unpacked(byte* g, int index, int which)
    {
        var i = index & 31;
        var upper = index >= 32 ? 1 : 0;
        var low = (g[32 + 32 * which + i] >> (4 * upper)) & 15;
        var high = (g[96 + i] >> (4 * which + 2 * upper)) & 3;
        return low | (high << 4);
    }

    /// <summary>The eight rows' scale vectors (lane r: scale j of row r twice, as i16) and min-pair vectors (lane r: mins 2p, 2p+1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UnpackScales(byte* g, Vector256<short>* sc, Vector256<short>* mn)
    {
        var nibble = Vector256.Create((byte)0x0F);
        var top = Vector256.Create((byte)0x30);
        var ls = Vector256.Load(g + 32);
        var lm = Vector256.Load(g + 64);
        var h = Vector256.Load(g + 96).AsUInt16();
        var bytes = stackalloc byte[128];
        ((ls & nibble) | (Vector256.ShiftLeft(h, 4).AsByte() & top)).Store(bytes);
        ((Vector256.ShiftRightLogical(ls.AsUInt16(), 4).AsByte() & nibble) | (Vector256.ShiftLeft(h, 2).AsByte() & top)).Store(bytes + 32);
        ((lm & nibble) | (h.AsByte() & top)).Store(bytes + 64);
        ((Vector256.ShiftRightLogical(lm.AsUInt16(), 4).AsByte() & nibble) | (Vector256.ShiftRightLogical(h, 2).AsByte() & top)).Store(bytes + 96);
        for (var j = 0; j < 8; j++)
        {
            var s = Avx2.ConvertToVector256Int32(bytes + 8 * j);
            sc[j] = (s | Vector256.ShiftLeft(s, 16)).AsInt16();
        }
        for (var p = 0; p < 4; p++)
            mn[p] = Avx2.ConvertToVector256Int16(bytes + 64 + 16 * p);
    }

    /// <summary>The f16 at <paramref name="h"/> (eight of them) as floats (exact for finite values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Halves(byte* h) => Q4_0Rows8.Scales(h);

    /// <summary>
    /// Eight rows (the group at <paramref name="group"/>) against one token: y[0..8). Lanes and accumulators stay in
    /// registers (through <see cref="GemmN"/>'s stack buffers, decode measured 1.4x slower).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemv8(byte* group, byte* act, int cols, float* y)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            ScalarGemv8(group, act, cols, y);
            return;
        }
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        var sc = stackalloc Vector256<short>[8];
        var mn = stackalloc Vector256<short>[4];
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        for (var sb = 0; sb < nb; sb++)
        {
            var g = group + sb * GroupBlockBytes;
            UnpackScales(g, sc, mn);
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default, i4 = default, i5 = default, i6 = default, i7 = default;
            for (var c = 0; c < 4; c++)
            {
                var q = g + QsOffset + 256 * c;
                var x = xq + 256 * sb + 64 * c;
                Vector256<short> slo = sc[2 * c], shi = sc[2 * c + 1];
                i0 += RawLane(q, x, slo, shi);
                i1 += RawLane(q + 32, x + 4, slo, shi);
                i2 += RawLane(q + 64, x + 8, slo, shi);
                i3 += RawLane(q + 96, x + 12, slo, shi);
                i4 += RawLane(q + 128, x + 16, slo, shi);
                i5 += RawLane(q + 160, x + 20, slo, shi);
                i6 += RawLane(q + 192, x + 24, slo, shi);
                i7 += RawLane(q + 224, x + 28, slo, shi);
            }
            var dx = Vector256.Create(xd[sb]);
            var d = Halves(g) * dx;
            a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), d, a0);
            a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), d, a1);
            a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), d, a2);
            a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i3), d, a3);
            a4 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i4), d, a4);
            a5 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i5), d, a5);
            a6 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i6), d, a6);
            a7 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i7), d, a7);
            var m = Vector256.Negate(Halves(g + 16) * dx);
            var pairs = ChunkPairs(bsums + 16 * sb);
            m0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinLane(mn, pairs, 0)), m, m0);
            m1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinLane(mn, pairs, 1)), m, m1);
            m2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinLane(mn, pairs, 2)), m, m2);
            m3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinLane(mn, pairs, 3)), m, m3);
        }
        (((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)) + ((m0 + m2) + (m1 + m3))).Store(y);
    }

    /// <summary><see cref="Lane"/> with the nibbles unpacked from <paramref name="q"/> on the way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> RawLane(byte* q, sbyte* x, Vector256<short> slo, Vector256<short> shi)
    {
        var mask = Vector256.Create((byte)0x0F);
        var raw = Vector256.Load(q);
        return Lane(raw & mask, Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & mask, x, slo, shi);
    }

    /// <summary>i32 p: a token's sums of sub-blocks 2p and 2p+1 (i16 each), from its sixteen block sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ChunkPairs(short* bsums)
    {
        var b = Vector256.Load(bsums);
        return Ssse3.HorizontalAdd(b.GetLower(), b.GetUpper()).ToVector256Unsafe().AsInt32();
    }

    /// <summary>Min lane p of the eight rows (lane r: row r's mins 2p, 2p+1 times the token's sums of those sub-blocks), exact.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MinLane(Vector256<short>* mn, Vector256<int> pairs, int p) =>
        Avx2.MultiplyAddAdjacent(mn[p], Avx2.PermuteVar8x32(pairs, Vector256.Create(p)).AsInt16());

    /// <summary>
    /// Groups of eight rows (<paramref name="groupBytes"/> apart) against <paramref name="tokens"/> tokens
    /// (y[t * yStride + 8 g + r]): each chunk of a group is unpacked once and met by every token of a pass; each
    /// token's eight integer lane vectors (lane r of vector k: row r's lane k) and twelve float accumulators wait in a
    /// small stack buffer. Bit-identical to the one-row kernel (<see cref="KQuantDot.Q4KAvx2"/>) for every (row, token).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GemmN(byte* group, nint groupBytes, int groups, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            ScalarGemmN(group, groupBytes, groups, act, actStride, tokens, cols, y, yStride);
            return;
        }
        var nb = cols / 256;
        var dOffset = (nint)((byte*)ActivationQuant.Q8_KD(act, cols) - act);
        var bOffset = (nint)((byte*)ActivationQuant.Q8_KBsums(act, cols) - act);
        var sc = stackalloc Vector256<short>[8];
        var mn = stackalloc Vector256<short>[4];
        var lanes = stackalloc Vector256<int>[MaxTokens * 8];
        var accs = stackalloc Vector256<float>[MaxTokens * 12];
        var mask = Vector256.Create((byte)0x0F);
        for (var i = 0; i < groups; i++, group += groupBytes, y += Rows)
        {
            for (var t0 = 0; t0 < tokens; t0 += MaxTokens)
            {
                var count = Math.Min(MaxTokens, tokens - t0);
                var first = act + t0 * actStride;
                new Span<Vector256<float>>(accs, 12 * count).Clear();
                for (var sb = 0; sb < nb; sb++)
                {
                    var g = group + sb * GroupBlockBytes;
                    UnpackScales(g, sc, mn);
                    new Span<Vector256<int>>(lanes, 8 * count).Clear();
                    for (var c = 0; c < 4; c++)
                    {
                        var q = g + QsOffset + 256 * c;
                        var r0 = Vector256.Load(q); var r1 = Vector256.Load(q + 32); var r2 = Vector256.Load(q + 64); var r3 = Vector256.Load(q + 96);
                        var r4 = Vector256.Load(q + 128); var r5 = Vector256.Load(q + 160); var r6 = Vector256.Load(q + 192); var r7 = Vector256.Load(q + 224);
                        Vector256<byte> l0 = r0 & mask, l1 = r1 & mask, l2 = r2 & mask, l3 = r3 & mask, l4 = r4 & mask, l5 = r5 & mask, l6 = r6 & mask, l7 = r7 & mask;
                        var h0 = Vector256.ShiftRightLogical(r0.AsUInt16(), 4).AsByte() & mask;
                        var h1 = Vector256.ShiftRightLogical(r1.AsUInt16(), 4).AsByte() & mask;
                        var h2 = Vector256.ShiftRightLogical(r2.AsUInt16(), 4).AsByte() & mask;
                        var h3 = Vector256.ShiftRightLogical(r3.AsUInt16(), 4).AsByte() & mask;
                        var h4 = Vector256.ShiftRightLogical(r4.AsUInt16(), 4).AsByte() & mask;
                        var h5 = Vector256.ShiftRightLogical(r5.AsUInt16(), 4).AsByte() & mask;
                        var h6 = Vector256.ShiftRightLogical(r6.AsUInt16(), 4).AsByte() & mask;
                        var h7 = Vector256.ShiftRightLogical(r7.AsUInt16(), 4).AsByte() & mask;
                        Vector256<short> slo = sc[2 * c], shi = sc[2 * c + 1];
                        var x = (sbyte*)first + 256 * sb + 64 * c;
                        var l = lanes;
                        for (var t = 0; t < count; t++, x += actStride, l += 8)
                        {
                            l[0] += Lane(l0, h0, x, slo, shi);
                            l[1] += Lane(l1, h1, x + 4, slo, shi);
                            l[2] += Lane(l2, h2, x + 8, slo, shi);
                            l[3] += Lane(l3, h3, x + 12, slo, shi);
                            l[4] += Lane(l4, h4, x + 16, slo, shi);
                            l[5] += Lane(l5, h5, x + 20, slo, shi);
                            l[6] += Lane(l6, h6, x + 24, slo, shi);
                            l[7] += Lane(l7, h7, x + 28, slo, shi);
                        }
                    }
                    Vector256<float> dw = Halves(g), dmin = Halves(g + 16);
                    var token = first;
                    for (var t = 0; t < count; t++, token += actStride)
                    {
                        var dx = Vector256.Create(*((float*)(token + dOffset) + sb));
                        var d = dw * dx;
                        var m = Vector256.Negate(dmin * dx);
                        var a = accs + 12 * t;
                        var l = lanes + 8 * t;
                        for (var k = 0; k < 8; k++)
                            a[k] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(l[k]), d, a[k]);
                        var pairs = ChunkPairs((short*)(token + bOffset) + 16 * sb);
                        for (var p = 0; p < 4; p++)
                            a[8 + p] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinLane(mn, pairs, p)), m, a[8 + p]);
                    }
                }
                for (var t = 0; t < count; t++)
                {
                    // llama.cpp's ending per row: hsum_float_8 of the eight lanes, plus the mins' (m0 + m2) + (m1 + m3).
                    var a = accs + 12 * t;
                    var sum = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
                    (sum + ((a[8] + a[10]) + (a[9] + a[11]))).Store(y + (t0 + t) * yStride);
                }
            }
        }
    }

    /// <summary>
    /// The AVX-512 form of <see cref="GemmN"/>: two groups (sixteen rows) per 512-bit vector, so one broadcast of four
    /// activations and one <c>vpmaddubsw</c> serve sixteen rows with half the instructions; an odd last group takes
    /// <see cref="GemmN"/>. Each lane does what <see cref="GemmN"/>'s does, so the bits are the same.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GemmN512(byte* group, nint groupBytes, int groups, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride)
    {
        if (!Avx512BW.IsSupported)
        {
            GemmN(group, groupBytes, groups, act, actStride, tokens, cols, y, yStride);
            return;
        }
        var nb = cols / 256;
        var dOffset = (nint)((byte*)ActivationQuant.Q8_KD(act, cols) - act);
        var bOffset = (nint)((byte*)ActivationQuant.Q8_KBsums(act, cols) - act);
        var sc = stackalloc Vector256<short>[16];
        var mn = stackalloc Vector256<short>[8];
        var lanes = stackalloc Vector512<int>[MaxTokens * 8];
        var accs = stackalloc Vector512<float>[MaxTokens * 12];
        var mask = Vector512.Create((byte)0x0F);
        var i = 0;
        for (; i + 2 <= groups; i += 2, group += 2 * groupBytes, y += 2 * Rows)
        {
            var other = group + groupBytes;
            for (var t0 = 0; t0 < tokens; t0 += MaxTokens)
            {
                var count = Math.Min(MaxTokens, tokens - t0);
                var first = act + t0 * actStride;
                new Span<Vector512<float>>(accs, 12 * count).Clear();
                for (var sb = 0; sb < nb; sb++)
                {
                    var g = group + sb * GroupBlockBytes;
                    var h = other + sb * GroupBlockBytes;
                    UnpackScales(g, sc, mn);
                    UnpackScales(h, sc + 8, mn + 4);
                    new Span<Vector512<int>>(lanes, 8 * count).Clear();
                    for (var c = 0; c < 4; c++)
                    {
                        var q = g + QsOffset + 256 * c;
                        var u = h + QsOffset + 256 * c;
                        var r0 = Vector512.Create(Vector256.Load(q), Vector256.Load(u)); var r1 = Vector512.Create(Vector256.Load(q + 32), Vector256.Load(u + 32));
                        var r2 = Vector512.Create(Vector256.Load(q + 64), Vector256.Load(u + 64)); var r3 = Vector512.Create(Vector256.Load(q + 96), Vector256.Load(u + 96));
                        var r4 = Vector512.Create(Vector256.Load(q + 128), Vector256.Load(u + 128)); var r5 = Vector512.Create(Vector256.Load(q + 160), Vector256.Load(u + 160));
                        var r6 = Vector512.Create(Vector256.Load(q + 192), Vector256.Load(u + 192)); var r7 = Vector512.Create(Vector256.Load(q + 224), Vector256.Load(u + 224));
                        Vector512<byte> l0 = r0 & mask, l1 = r1 & mask, l2 = r2 & mask, l3 = r3 & mask, l4 = r4 & mask, l5 = r5 & mask, l6 = r6 & mask, l7 = r7 & mask;
                        var h0 = Vector512.ShiftRightLogical(r0.AsUInt16(), 4).AsByte() & mask;
                        var h1 = Vector512.ShiftRightLogical(r1.AsUInt16(), 4).AsByte() & mask;
                        var h2 = Vector512.ShiftRightLogical(r2.AsUInt16(), 4).AsByte() & mask;
                        var h3 = Vector512.ShiftRightLogical(r3.AsUInt16(), 4).AsByte() & mask;
                        var h4 = Vector512.ShiftRightLogical(r4.AsUInt16(), 4).AsByte() & mask;
                        var h5 = Vector512.ShiftRightLogical(r5.AsUInt16(), 4).AsByte() & mask;
                        var h6 = Vector512.ShiftRightLogical(r6.AsUInt16(), 4).AsByte() & mask;
                        var h7 = Vector512.ShiftRightLogical(r7.AsUInt16(), 4).AsByte() & mask;
                        Vector512<short> slo = Vector512.Create(sc[2 * c], sc[8 + 2 * c]), shi = Vector512.Create(sc[2 * c + 1], sc[9 + 2 * c]);
                        var x = (sbyte*)first + 256 * sb + 64 * c;
                        var l = lanes;
                        for (var t = 0; t < count; t++, x += actStride, l += 8)
                        {
                            l[0] += Lane512(l0, h0, x, slo, shi);
                            l[1] += Lane512(l1, h1, x + 4, slo, shi);
                            l[2] += Lane512(l2, h2, x + 8, slo, shi);
                            l[3] += Lane512(l3, h3, x + 12, slo, shi);
                            l[4] += Lane512(l4, h4, x + 16, slo, shi);
                            l[5] += Lane512(l5, h5, x + 20, slo, shi);
                            l[6] += Lane512(l6, h6, x + 24, slo, shi);
                            l[7] += Lane512(l7, h7, x + 28, slo, shi);
                        }
                    }
                    Vector512<float> dw = Vector512.Create(Halves(g), Halves(h)), dmin = Vector512.Create(Halves(g + 16), Halves(h + 16));
                    var token = first;
                    for (var t = 0; t < count; t++, token += actStride)
                    {
                        var dx = Vector512.Create(*((float*)(token + dOffset) + sb));
                        var d = dw * dx;
                        var m = Vector512.Negate(dmin * dx);
                        var a = accs + 12 * t;
                        var l = lanes + 8 * t;
                        for (var k = 0; k < 8; k++)
                            a[k] = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(l[k]), d, a[k]);
                        var pairs = ChunkPairs((short*)(token + bOffset) + 16 * sb);
                        for (var p = 0; p < 4; p++)
                        {
                            var minLane = Vector512.Create(MinLane(mn, pairs, p), MinLane(mn + 4, pairs, p));
                            a[8 + p] = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(minLane), m, a[8 + p]);
                        }
                    }
                }
                for (var t = 0; t < count; t++)
                {
                    var a = accs + 12 * t;
                    var sum = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
                    (sum + ((a[8] + a[10]) + (a[9] + a[11]))).Store(y + (t0 + t) * yStride);
                }
            }
        }
        if (i < groups)
            GemmN(group, groupBytes, groups - i, act, actStride, tokens, cols, y, yStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Lane512(Vector512<byte> lo, Vector512<byte> hi, sbyte* x, Vector512<short> slo, Vector512<short> shi) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(lo, Vector512.Create(*(int*)x).AsSByte()), slo)
        + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(hi, Vector512.Create(*(int*)(x + 32)).AsSByte()), shi);

    /// <summary>
    /// Lane k of chunk c for the eight rows: weights 4k..4k+3 of sub-blocks 2c (<paramref name="lo"/>, scales
    /// <paramref name="slo"/>) and 2c+1 (<paramref name="hi"/>) against the token's quants at <paramref name="x"/> and
    /// 32 further, exact.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Lane(Vector256<byte> lo, Vector256<byte> hi, sbyte* x, Vector256<short> slo, Vector256<short> shi) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(lo, Bcast(x)), slo) + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(hi, Bcast(x + 32)), shi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Bcast(sbyte* x) => Vector256.Create(*(int*)x).AsSByte();

    /// <summary>The grouped layout one value at a time, in the one-row kernel's order: the reference the vector kernels reproduce.</summary>
    public static void ScalarGemv8(byte* group, byte* act, int cols, float* y)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        var lanes = stackalloc int[8];
        var minLanes = stackalloc int[4];
        for (var r = 0; r < Rows; r++)
        {
            var acc = new KQuantDot.ScalarLanes();
            for (var sb = 0; sb < nb; sb++)
            {
                var g = group + sb * GroupBlockBytes;
                var x = xq + 256 * sb;
                for (var k = 0; k < 8; k++)
                {
                    var lane = 0;
                    for (var j = 0; j < 8; j++)
                    {
                        var part = 0;
                        for (var l = 4 * k; l < 4 * k + 4; l++)
                            part += ((g[QsOffset + 256 * (j / 2) + 32 * (l / 4) + 4 * r + (l & 3)] >> (4 * (j & 1))) & 0xF) * x[32 * j + l];
                        lane += Scale(g, r, j) * part;
                    }
                    lanes[k] = lane;
                }
                for (var p = 0; p < 4; p++)
                {
                    minLanes[p] = Min(g, r, 2 * p) * (bsums[16 * sb + 4 * p] + bsums[16 * sb + 4 * p + 1])
                        + Min(g, r, 2 * p + 1) * (bsums[16 * sb + 4 * p + 2] + bsums[16 * sb + 4 * p + 3]);
                }
                acc.Add(lanes, minLanes, xd[sb], Fp16.ToSingle(((ushort*)g)[r]), Fp16.ToSingle(((ushort*)g)[8 + r]));
            }
            y[r] = acc.Total();
        }
    }

    public static void ScalarGemmN(byte* group, nint groupBytes, int groups, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride) =>
        TokenLoop.Groups(&ScalarGemv8, group, groupBytes, groups, act, actStride, tokens, cols, y, yStride);
}
