using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>
/// Q4_K matrices regrouped eight rows at a time (llama.cpp repacks Q4_K so on x86 too: one activation load serves eight
/// rows). Per (row, token) and super-block the arithmetic is <see cref="KQuantDot"/>'s Q4_K order: one exact integer
/// sum of the scaled products and one of the mins' products, then <c>acc = fma(isum, dw * dx, acc)</c> and
/// <c>mins = fma(imin, dmin * dx, mins)</c>, the result <c>acc - mins</c>. So every form gives the same bits.
/// </summary>
/// <remarks>
/// Per group of eight rows and per super-block, <see cref="GroupBlockBytes"/> (eight rows' 144 bytes, at the same place):
/// at 0 the eight rows' f16 d, at 16 their f16 dmin; at 32 the 6-bit scales and mins, split so vector code unpacks them
/// (<see cref="PackScales"/>); at 128, for chunk c = 0..3 and k = 0..7, 32 bytes whose lane r holds bytes
/// 32c+4k..32c+4k+3 of row r's quants (low nibbles: weights 64c+4k.., sub-block 2c; high: 64c+32+4k.., sub-block 2c+1).
/// The scaled products of a sub-block are summed in 16 bits before one multiply by the scale: eight
/// <c>vpmaddubsw</c> pairs stay within 8 x 2 x 15 x 128 = 30720, and one <c>vpmaddwd</c> per sub-block and token serves
/// all eight rows, where the one-row kernel needs one per four weights.
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

    /// <summary>Eight rows (the group at <paramref name="group"/>) against one token: y[0..8).</summary>
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
        Vector256<float> acc = default, mins = default;
        for (var sb = 0; sb < nb; sb++)
        {
            var g = group + sb * GroupBlockBytes;
            UnpackScales(g, sc, mn);
            var x = xq + 256 * sb;
            var isum = Chunk(g, 0, x, sc) + Chunk(g, 1, x, sc) + (Chunk(g, 2, x, sc) + Chunk(g, 3, x, sc));
            var dx = Vector256.Create(xd[sb]);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), Halves(g) * dx, acc);
            mins = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinSums(mn, bsums + 16 * sb)), Halves(g + 16) * dx, mins);
        }
        (acc - mins).Store(y);
    }

    /// <summary>One chunk (64 weights of the eight rows) against one token's 64 quants at <paramref name="x"/>, unpacking as it goes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk(byte* g, int c, sbyte* x, Vector256<short>* sc)
    {
        var mask = Vector256.Create((byte)0x0F);
        var q = g + QsOffset + 256 * c;
        x += 64 * c;
        Vector256<short> lo = default, hi = default;
        for (var k = 0; k < 8; k++)
        {
            var raw = Vector256.Load(q + 32 * k);
            lo += Avx2.MultiplyAddAdjacent(raw & mask, Vector256.Create(*(int*)(x + 4 * k)).AsSByte());
            hi += Avx2.MultiplyAddAdjacent(Vector256.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & mask, Vector256.Create(*(int*)(x + 32 + 4 * k)).AsSByte());
        }
        return Avx2.MultiplyAddAdjacent(lo, sc[2 * c]) + Avx2.MultiplyAddAdjacent(hi, sc[2 * c + 1]);
    }

    /// <summary>Lane r: the exact sum over sub-blocks of row r's min times the token's sum of that sub-block's 32 quants.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MinSums(Vector256<short>* mn, short* bsums)
    {
        var b = Vector256.Load(bsums);
        // i32 p: the sums of sub-blocks 2p and 2p+1 (i16 each), broadcast to meet row r's mins 2p, 2p+1.
        var pairs = Ssse3.HorizontalAdd(b.GetLower(), b.GetUpper()).ToVector256Unsafe().AsInt32();
        return Avx2.MultiplyAddAdjacent(mn[0], Avx2.PermuteVar8x32(pairs, Vector256<int>.Zero).AsInt16())
            + Avx2.MultiplyAddAdjacent(mn[1], Avx2.PermuteVar8x32(pairs, Vector256.Create(1)).AsInt16())
            + (Avx2.MultiplyAddAdjacent(mn[2], Avx2.PermuteVar8x32(pairs, Vector256.Create(2)).AsInt16())
            + Avx2.MultiplyAddAdjacent(mn[3], Avx2.PermuteVar8x32(pairs, Vector256.Create(3)).AsInt16()));
    }

    /// <summary>
    /// Groups of eight rows (<paramref name="groupBytes"/> apart) against <paramref name="tokens"/> tokens
    /// (y[t * yStride + 8 g + r]): each chunk of a group is unpacked once and met by every token of a pass, each
    /// token's integer sums kept in a small stack buffer. Bit-identical to <see cref="Gemv8"/> token by token.
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
        var isums = stackalloc Vector256<int>[MaxTokens];
        var accs = stackalloc Vector256<float>[2 * MaxTokens];
        var mask = Vector256.Create((byte)0x0F);
        for (var i = 0; i < groups; i++, group += groupBytes, y += Rows)
        {
            for (var t0 = 0; t0 < tokens; t0 += MaxTokens)
            {
                var count = Math.Min(MaxTokens, tokens - t0);
                var first = act + t0 * actStride;
                new Span<Vector256<float>>(accs, 2 * count).Clear();
                for (var sb = 0; sb < nb; sb++)
                {
                    var g = group + sb * GroupBlockBytes;
                    UnpackScales(g, sc, mn);
                    new Span<Vector256<int>>(isums, count).Clear();
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
                        for (var t = 0; t < count; t++, x += actStride)
                        {
                            var lo = Avx2.MultiplyAddAdjacent(l0, Bcast(x)) + Avx2.MultiplyAddAdjacent(l1, Bcast(x + 4))
                                + (Avx2.MultiplyAddAdjacent(l2, Bcast(x + 8)) + Avx2.MultiplyAddAdjacent(l3, Bcast(x + 12)))
                                + (Avx2.MultiplyAddAdjacent(l4, Bcast(x + 16)) + Avx2.MultiplyAddAdjacent(l5, Bcast(x + 20))
                                + (Avx2.MultiplyAddAdjacent(l6, Bcast(x + 24)) + Avx2.MultiplyAddAdjacent(l7, Bcast(x + 28))));
                            var hi = Avx2.MultiplyAddAdjacent(h0, Bcast(x + 32)) + Avx2.MultiplyAddAdjacent(h1, Bcast(x + 36))
                                + (Avx2.MultiplyAddAdjacent(h2, Bcast(x + 40)) + Avx2.MultiplyAddAdjacent(h3, Bcast(x + 44)))
                                + (Avx2.MultiplyAddAdjacent(h4, Bcast(x + 48)) + Avx2.MultiplyAddAdjacent(h5, Bcast(x + 52))
                                + (Avx2.MultiplyAddAdjacent(h6, Bcast(x + 56)) + Avx2.MultiplyAddAdjacent(h7, Bcast(x + 60))));
                            isums[t] += Avx2.MultiplyAddAdjacent(lo, slo) + Avx2.MultiplyAddAdjacent(hi, shi);
                        }
                    }
                    Vector256<float> dw = Halves(g), dmin = Halves(g + 16);
                    var token = first;
                    for (var t = 0; t < count; t++, token += actStride)
                    {
                        var dx = Vector256.Create(*((float*)(token + dOffset) + sb));
                        accs[2 * t] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(isums[t]), dw * dx, accs[2 * t]);
                        var imin = MinSums(mn, (short*)(token + bOffset) + 16 * sb);
                        accs[2 * t + 1] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(imin), dmin * dx, accs[2 * t + 1]);
                    }
                }
                for (var t = 0; t < count; t++)
                    (accs[2 * t] - accs[2 * t + 1]).Store(y + (t0 + t) * yStride);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Bcast(sbyte* x) => Vector256.Create(*(int*)x).AsSByte();

    /// <summary>The grouped layout one value at a time: the reference the vector kernels reproduce.</summary>
    public static void ScalarGemv8(byte* group, byte* act, int cols, float* y)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        for (var r = 0; r < Rows; r++)
        {
            float acc = 0, mins = 0;
            for (var sb = 0; sb < nb; sb++)
            {
                var g = group + sb * GroupBlockBytes;
                var x = xq + 256 * sb;
                int isum = 0, imin = 0;
                for (var j = 0; j < 8; j++)
                {
                    var c = j / 2;
                    var shift = 4 * (j & 1);
                    var part = 0;
                    for (var l = 0; l < 32; l++)
                        part += ((g[QsOffset + 256 * c + 32 * (l / 4) + 4 * r + (l & 3)] >> shift) & 0xF) * x[32 * j + l];
                    isum += Scale(g, r, j) * part;
                    imin += Min(g, r, j) * (bsums[16 * sb + 2 * j] + bsums[16 * sb + 2 * j + 1]);
                }
                var dx = xd[sb];
                acc = MathF.FusedMultiplyAdd(isum, Fp16.ToSingle(((ushort*)g)[r]) * dx, acc);
                mins = MathF.FusedMultiplyAdd(imin, Fp16.ToSingle(((ushort*)g)[8 + r]) * dx, mins);
            }
            y[r] = acc - mins;
        }
    }

    public static void ScalarGemmN(byte* group, nint groupBytes, int groups, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride) =>
        TokenLoop.Groups(&ScalarGemv8, group, groupBytes, groups, act, actStride, tokens, cols, y, yStride);
}
