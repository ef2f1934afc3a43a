using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>
/// IQ4_NL matrices whose rows come in groups of eight, in llama.cpp's arithmetic for them (on x86 it repacks IQ4_NL
/// eight rows at a time exactly like Q4_0, the nibbles becoming levels by a byte shuffle of <c>kvalues_iq4nl</c>): per
/// row, each block's 32 integer products are summed exactly, then <c>acc = fma(isum, dw * da, acc)</c> block after
/// block. Every form here (scalar, vector, one token, a few, many, the file's row layout) gives the same bits.
/// </summary>
/// <remarks>
/// An IQ4_NL block has Q4_0's bytes (an f16 scale, 16 bytes of nibbles: low = element j, high = j + 16), so copied
/// weights are regrouped by <see cref="Q4_0Rows8.Repack"/> into its layout: per block of a group, the eight scales, then
/// four 32-byte chunks whose lane r holds row r's bytes 4c..4c+3. The levels are signed (-127..113), so
/// <c>vpmaddubsw</c> (u8 x i8) takes their absolute values and the activations get the levels' signs; both come from
/// the nibbles by a shuffle of a table, once per block, and the sign costs an xor and a subtraction per chunk and token. A pair of such
/// products can reach 2 x 127 x 127, so each 16-bit result is widened by <c>vpmaddwd</c> before it is added (Q4_0's
/// nibbles are small enough to add eight in 16 bits first): about twice Q4_0's integer work per weight. The 256-bit
/// form serves AVX2 and AVX-512 alike: .NET 10 has no 512-bit sign instruction, and a masked negate measured no
/// better on this kind of CPU, which runs 512-bit operations as two 256-bit halves. llama.cpp's own kernel takes the
/// same steps with one AVX-512 VNNI <c>vpdpbusd</c> in place of the two multiplies.
/// </remarks>
internal static unsafe class IQ4NLRows8
{
    public const int Rows = 8;
    private const int BlockBytes = 18;
    private const int GroupBlockBytes = Rows * BlockBytes; // 144

    /// <summary>The absolute values of <see cref="ReferenceQuant.IQ4NLValues"/>, in both 128-bit lanes.</summary>
    private static Vector256<byte> AbsTable() =>
        Vector256.Create(Vector128.Create((byte)127, 104, 83, 65, 49, 35, 22, 10, 1, 13, 25, 38, 53, 69, 89, 113));

    private static Vector256<sbyte> LevelTable() => Vector256.Create(Vector128.Create((ReadOnlySpan<sbyte>)ReferenceQuant.IQ4NLValues));

    /// <summary>-1 for the negative levels (indices 0..7), 0 for the others, in both 128-bit lanes.</summary>
    private static Vector256<sbyte> SignTable() => Vector256.Create(Vector128.Create(-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0));

    /// <summary>Eight rows (the group at <paramref name="group"/>) against one token: y[0..8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemv8(byte* group, byte* act, int cols, float* y)
    {
        if (!Avx2.IsSupported)
        {
            ScalarGemv8(group, act, cols, y);
            return;
        }
        var nb = cols / 32;
        var qs = ActivationQuant.Q8_0Qs(act);
        var da = ActivationQuant.Q8_0D(act, cols);
        var acc = Vector256<float>.Zero;
        for (var b = 0; b < nb; b++)
        {
            var g = group + b * GroupBlockBytes;
            Unpack(g, out var dw, out var u0, out var s0, out var u1, out var s1, out var u2, out var s2, out var u3, out var s3,
                out var v0, out var t0, out var v1, out var t1, out var v2, out var t2, out var v3, out var t3);
            var isum = Sums(u0, s0, u1, s1, u2, s2, u3, s3, v0, t0, v1, t1, v2, t2, v3, t3, qs + 32 * b);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), dw * Vector256.Create(da[b]), acc);
        }
        acc.Store(y);
    }

    /// <summary>
    /// Groups of eight rows against 2 to <see cref="Q4_0Rows8.FewTokens"/> tokens (arguments as <see cref="Gemm"/>), a
    /// few sessions decoding together: each group streamed block after block as one token's product streams it, each
    /// block unpacked once for all tokens, their accumulators in registers.
    /// </summary>
    public static void GemvFew(byte* group, nint groupBytes, int groups, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride)
    {
        if (!Avx2.IsSupported || tokens > Q4_0Rows8.FewTokens)
        {
            Gemm(group, groupBytes, groups, act, actStride, tokens, cols, y, yStride);
            return;
        }
        for (var i = 0; i < groups; i++, group += groupBytes, y += Rows)
        {
            switch (tokens)
            {
                case 1:
                    Gemv8(group, act, cols, y);
                    break;
                case 2:
                    GemvFew<Q4_0Rows8.Two>(group, act, actStride, cols, y, yStride);
                    break;
                case 3:
                    GemvFew<Q4_0Rows8.Three>(group, act, actStride, cols, y, yStride);
                    break;
                default:
                    GemvFew<Q4_0Rows8.Four>(group, act, actStride, cols, y, yStride);
                    break;
            }
        }
    }

    // TCount is a value type, so the JIT compiles one copy per count with the unused tokens' code removed.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvFew<TCount>(byte* group, byte* act, nint actStride, int cols, float* y, nint yStride)
        where TCount : Q4_0Rows8.ITokenCount
    {
        var nb = cols / 32;
        var dOffset = (nint)((byte*)ActivationQuant.Q8_0D(act, cols) - act);
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var acc2 = Vector256<float>.Zero;
        var acc3 = Vector256<float>.Zero;
        for (var b = 0; b < nb; b++)
        {
            var g = group + b * GroupBlockBytes;
            Unpack(g, out var dw, out var u0, out var s0, out var u1, out var s1, out var u2, out var s2, out var u3, out var s3,
                out var v0, out var t0, out var v1, out var t1, out var v2, out var t2, out var v3, out var t3);
            var x = act + 32 * b;
            var m = act + 4 * b + dOffset;
            acc0 = Token(u0, s0, u1, s1, u2, s2, u3, s3, v0, t0, v1, t1, v2, t2, v3, t3, dw, x, m, acc0);
            acc1 = Token(u0, s0, u1, s1, u2, s2, u3, s3, v0, t0, v1, t1, v2, t2, v3, t3, dw, x + actStride, m + actStride, acc1);
            if (TCount.Count > 2)
                acc2 = Token(u0, s0, u1, s1, u2, s2, u3, s3, v0, t0, v1, t1, v2, t2, v3, t3, dw, x + 2 * actStride, m + 2 * actStride, acc2);
            if (TCount.Count > 3)
                acc3 = Token(u0, s0, u1, s1, u2, s2, u3, s3, v0, t0, v1, t1, v2, t2, v3, t3, dw, x + 3 * actStride, m + 3 * actStride, acc3);
        }
        acc0.Store(y);
        acc1.Store(y + yStride);
        if (TCount.Count > 2)
            acc2.Store(y + 2 * yStride);
        if (TCount.Count > 3)
            acc3.Store(y + 3 * yStride);
    }

    /// <summary>The most tokens, and groups, one pass of <see cref="Gemm"/> keeps accumulators for (4 KiB of them).</summary>
    private const int MaxTokens = 16, MaxGroups = 8;

    /// <summary>
    /// Blocks per column tile: the groups of a pass meet one tile of the tokens' activations after the other, so the tile
    /// (16 tokens x 32 blocks x 32 bytes = 16 KiB) stays in L1 for all of them.
    /// </summary>
    private const int TileBlocks = 32;

    /// <summary>
    /// <paramref name="groups"/> groups of eight rows (the first at <paramref name="group"/>, <paramref name="groupBytes"/>
    /// apart) against any number of tokens (Q8_0, <paramref name="actStride"/> bytes apart): y[t * yStride + 8 g + r].
    /// Each block of a group is unpacked once per pass and met by up to 16 tokens; bit-identical to <see cref="Gemv8"/>
    /// token by token.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemm(byte* group, nint groupBytes, int groups, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride)
    {
        if (!Avx2.IsSupported)
        {
            ScalarGemmN(group, groupBytes, groups, act, actStride, tokens, cols, y, yStride);
            return;
        }
        var nb = cols / 32;
        var dOffset = (nint)((byte*)ActivationQuant.Q8_0D(act, cols) - act);
        var accs = stackalloc float[MaxGroups * MaxTokens * Rows];
        for (var t0 = 0; t0 < tokens; t0 += MaxTokens)
        {
            var count = Math.Min(MaxTokens, tokens - t0);
            var first = act + t0 * actStride;
            for (var g0 = 0; g0 < groups; g0 += MaxGroups)
            {
                var groupCount = Math.Min(MaxGroups, groups - g0);
                new Span<float>(accs, groupCount * MaxTokens * Rows).Clear();
                for (var k0 = 0; k0 < nb; k0 += TileBlocks)
                {
                    for (var gi = 0; gi < groupCount; gi++)
                    {
                        Tile(group + (g0 + gi) * groupBytes, first, actStride, count, k0, Math.Min(nb, k0 + TileBlocks), dOffset,
                            accs + gi * MaxTokens * Rows);
                    }
                }
                for (var gi = 0; gi < groupCount; gi++)
                {
                    for (var t = 0; t < count; t++)
                        Vector256.Load(accs + (gi * MaxTokens + t) * Rows).Store(y + (t0 + t) * yStride + Rows * (g0 + gi));
                }
            }
        }
    }

    /// <summary>Blocks [b0, b1) of one group against <paramref name="count"/> tokens, into their accumulators (eight floats each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile(byte* group, byte* act, nint actStride, int count, int b0, int b1, nint dOffset, float* accs)
    {
        for (var b = b0; b < b1; b++)
        {
            var g = group + b * GroupBlockBytes;
            Unpack(g, out var dw, out var u0, out var s0, out var u1, out var s1, out var u2, out var s2, out var u3, out var s3,
                out var v0, out var t0, out var v1, out var t1, out var v2, out var t2, out var v3, out var t3);
            var x = act + 32 * b;
            var m = act + 4 * b + dOffset;
            var acc = accs;
            for (var t = 0; t < count; t++)
            {
                Token(u0, s0, u1, s1, u2, s2, u3, s3, v0, t0, v1, t1, v2, t2, v3, t3, dw, x, m, Vector256.Load(acc)).Store(acc);
                x += actStride;
                m += actStride;
                acc += Rows;
            }
        }
    }

    /// <summary>
    /// One token's share of one block: its exact integer sums for the eight rows times the rows' scales and the token's
    /// (<paramref name="d"/> points at it), added to <paramref name="acc"/> in one fused multiply-add.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Token(Vector256<byte> u0, Vector256<sbyte> s0, Vector256<byte> u1, Vector256<sbyte> s1,
        Vector256<byte> u2, Vector256<sbyte> s2, Vector256<byte> u3, Vector256<sbyte> s3, Vector256<byte> v0, Vector256<sbyte> t0,
        Vector256<byte> v1, Vector256<sbyte> t1, Vector256<byte> v2, Vector256<sbyte> t2, Vector256<byte> v3, Vector256<sbyte> t3,
        Vector256<float> dw, byte* x, byte* d, Vector256<float> acc)
    {
        var isum = Sums(u0, s0, u1, s1, u2, s2, u3, s3, v0, t0, v1, t1, v2, t2, v3, t3, (sbyte*)x);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), dw * Vector256.Create(*(float*)d), acc);
    }

    /// <summary>
    /// One block of a group: the rows' scales, chunk c's low nibbles as absolute levels in u<i>c</i> and their sign masks (-1 where negative) in s<i>c</i>, its high
    /// nibbles in v<i>c</i> and t<i>c</i>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(byte* g, out Vector256<float> dw, out Vector256<byte> u0, out Vector256<sbyte> s0, out Vector256<byte> u1, out Vector256<sbyte> s1,
        out Vector256<byte> u2, out Vector256<sbyte> s2, out Vector256<byte> u3, out Vector256<sbyte> s3,
        out Vector256<byte> v0, out Vector256<sbyte> t0, out Vector256<byte> v1, out Vector256<sbyte> t1,
        out Vector256<byte> v2, out Vector256<sbyte> t2, out Vector256<byte> v3, out Vector256<sbyte> t3)
    {
        dw = Q4_0Rows8.Scales(g);
        var mask = Vector256.Create((byte)0x0F);
        var abs = AbsTable();
        var signs = SignTable();
        var raw0 = Vector256.Load(g + 16);
        var raw1 = Vector256.Load(g + 48);
        var raw2 = Vector256.Load(g + 80);
        var raw3 = Vector256.Load(g + 112);
        var lo0 = raw0 & mask; var hi0 = Vector256.ShiftRightLogical(raw0.AsUInt16(), 4).AsByte() & mask;
        var lo1 = raw1 & mask; var hi1 = Vector256.ShiftRightLogical(raw1.AsUInt16(), 4).AsByte() & mask;
        var lo2 = raw2 & mask; var hi2 = Vector256.ShiftRightLogical(raw2.AsUInt16(), 4).AsByte() & mask;
        var lo3 = raw3 & mask; var hi3 = Vector256.ShiftRightLogical(raw3.AsUInt16(), 4).AsByte() & mask;
        u0 = Avx2.Shuffle(abs, lo0); s0 = Avx2.Shuffle(signs, lo0.AsSByte());
        u1 = Avx2.Shuffle(abs, lo1); s1 = Avx2.Shuffle(signs, lo1.AsSByte());
        u2 = Avx2.Shuffle(abs, lo2); s2 = Avx2.Shuffle(signs, lo2.AsSByte());
        u3 = Avx2.Shuffle(abs, lo3); s3 = Avx2.Shuffle(signs, lo3.AsSByte());
        v0 = Avx2.Shuffle(abs, hi0); t0 = Avx2.Shuffle(signs, hi0.AsSByte());
        v1 = Avx2.Shuffle(abs, hi1); t1 = Avx2.Shuffle(signs, hi1.AsSByte());
        v2 = Avx2.Shuffle(abs, hi2); t2 = Avx2.Shuffle(signs, hi2.AsSByte());
        v3 = Avx2.Shuffle(abs, hi3); t3 = Avx2.Shuffle(signs, hi3.AsSByte());
    }

    /// <summary>
    /// Lane r: the exact sum over one block of level x activation for row r. Chunk c meets activations 4c..4c+3 (low
    /// nibbles) and 16+4c.. (high), broadcast to every row and given each level's sign.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sums(Vector256<byte> u0, Vector256<sbyte> s0, Vector256<byte> u1, Vector256<sbyte> s1,
        Vector256<byte> u2, Vector256<sbyte> s2, Vector256<byte> u3, Vector256<sbyte> s3, Vector256<byte> v0, Vector256<sbyte> t0,
        Vector256<byte> v1, Vector256<sbyte> t1, Vector256<byte> v2, Vector256<sbyte> t2, Vector256<byte> v3, Vector256<sbyte> t3, sbyte* x)
    {
        // Two chains of four, so consecutive tokens' sums overlap in the pipeline.
        var p = Chunk(u0, s0, x) + Chunk(v0, t0, x + 16) + (Chunk(u1, s1, x + 4) + Chunk(v1, t1, x + 20));
        var q = Chunk(u2, s2, x + 8) + Chunk(v2, t2, x + 24) + (Chunk(u3, s3, x + 12) + Chunk(v3, t3, x + 28));
        return p + q;
    }

    /// <summary>
    /// Per row, the four products of |level| with the activation given the level's sign, exact in 32 bits. The sign is
    /// <c>(x ^ m) - m</c> with the level's sign mask m: two simple operations, where <c>vpsignb</c> measured 1.5x slower in
    /// the batched kernel. (Only <c>x ^ m</c>, -x - 1 where m is set, with a per-block correction from the weights,
    /// measured no faster.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk(Vector256<byte> abs, Vector256<sbyte> negative, sbyte* x)
    {
        var xb = Vector256.Create(*(int*)x).AsSByte();
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(abs, (xb ^ negative) - negative), Vector256<short>.One);
    }

    /// <summary>The same arithmetic for one row in the file's layout (memory-mapped weights): one (row, token) pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float RowDot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var qs = ActivationQuant.Q8_0Qs(act);
        var da = ActivationQuant.Q8_0D(act, cols);
        float acc = 0;
        for (var b = 0; b < nb; b++)
        {
            var block = w + b * BlockBytes;
            int isum;
            if (Avx2.IsSupported)
            {
                var q = Avx2.Shuffle(LevelTable(), Q4_0Block.Unpack(block).AsSByte());
                var x = Vector256.Load(qs + 32 * b);
                isum = Vector256.Sum(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(q), Avx2.Sign(x, q)), Vector256<short>.One));
            }
            else
            {
                isum = 0;
                for (var j = 0; j < 16; j++)
                    isum += Level(block[2 + j] & 0xF) * qs[32 * b + j] + Level(block[2 + j] >> 4) * qs[32 * b + 16 + j];
            }
            acc = MathF.FusedMultiplyAdd(isum, Fp16.ToSingle(*(ushort*)block) * da[b], acc);
        }
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RowDot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        TokenLoop.Four(&RowDot, w, act, actStride, cols, y, yStride);

    private static int Level(int index) => ReferenceQuant.IQ4NLValues[index];

    /// <summary>The grouped layout one value at a time: the reference the vector kernels reproduce.</summary>
    public static void ScalarGemv8(byte* group, byte* act, int cols, float* y)
    {
        var nb = cols / 32;
        var qs = ActivationQuant.Q8_0Qs(act);
        var da = ActivationQuant.Q8_0D(act, cols);
        for (var r = 0; r < Rows; r++)
        {
            float acc = 0;
            for (var b = 0; b < nb; b++)
            {
                var g = group + b * GroupBlockBytes;
                var isum = 0;
                for (var c = 0; c < 4; c++)
                {
                    for (var k = 0; k < 4; k++)
                    {
                        var v = g[16 + 32 * c + 4 * r + k];
                        isum += Level(v & 0xF) * qs[32 * b + 4 * c + k] + Level(v >> 4) * qs[32 * b + 16 + 4 * c + k];
                    }
                }
                acc = MathF.FusedMultiplyAdd(isum, Fp16.ToSingle(((ushort*)g)[r]) * da[b], acc);
            }
            y[r] = acc;
        }
    }

    public static void ScalarGemmN(byte* group, nint groupBytes, int groups, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride) =>
        TokenLoop.Groups(&ScalarGemv8, group, groupBytes, groups, act, actStride, tokens, cols, y, yStride);
}
