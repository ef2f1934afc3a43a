using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>
/// Q4_0 matrices whose rows come in groups of eight, in llama.cpp's arithmetic for them (on x86 it repacks such
/// matrices eight rows at a time): per row, each block's 32 integer products are summed exactly, then
/// <c>acc = fma(isum, dw * da, acc)</c> block after block. Results agree with llama.cpp bit for bit, which keeps the
/// 8-bit activation roundings of the next product the same (docs/engine.md).
/// </summary>
/// <remarks>
/// Copied weights are repacked at load (<see cref="Repack"/>) so one 256-bit vector holds a block of all eight rows:
/// per group of eight rows and per block, the eight f16 scales (16 bytes) then four chunks of 32 bytes, chunk c lane r
/// holding bytes 4c..4c+3 of row r's quants (weights 4c..4c+3 in the low nibbles, 16+4c.. in the high). A group takes
/// the same bytes as its eight rows did, at the same place. Matrices read from the memory map keep the file's layout
/// and use <see cref="RowDot"/>, the same arithmetic one row at a time.
/// </remarks>
internal static unsafe class Q4_0Rows8
{
    public const int Rows = 8;
    private const int BlockBytes = 18;
    private const int GroupBlockBytes = Rows * BlockBytes; // 144
    private const float Pow2To112 = 5.192296858534828e33f;

    /// <summary>Rewrites <paramref name="rows"/> rows (a multiple of 8) of <paramref name="cols"/> Q4_0 weights into the grouped layout.</summary>
    public static void Repack(byte* source, byte* destination, int rows, int cols)
    {
        if (rows % Rows != 0 || cols % 32 != 0)
            throw new ArgumentException($"Grouped Q4_0 needs rows in eights and whole blocks, not {rows} x {cols}.");
        TokenLoop.Regroup(source, destination, rows, cols / 32, BlockBytes, &RegroupBlock);
    }

    private static void RegroupBlock(byte* first, nint rowBytes, byte* group)
    {
        for (var r = 0; r < Rows; r++)
        {
            var block = first + r * rowBytes;
            ((ushort*)group)[r] = *(ushort*)block;
            for (var c = 0; c < 4; c++)
                *(uint*)(group + 16 + 32 * c + 4 * r) = *(uint*)(block + 2 + 4 * c);
        }
    }

    /// <summary>Eight rows (the group at <paramref name="group"/>) against one token: y[0..8).</summary>
    public static void Gemv8(byte* group, byte* act, int cols, float* y)
    {
        if (AvxVnni.IsSupported)
            Gemv8<VnniSums>(group, act, cols, y);
        else if (Avx2.IsSupported)
            Gemv8<MaddSums>(group, act, cols, y);
        else
            ScalarGemv8(group, act, cols, y);
    }

    /// <summary>
    /// Groups of eight rows (<paramref name="groupBytes"/> apart) against <paramref name="tokens"/> tokens
    /// (y[t * yStride + 8 g + r]): each block of a group is unpacked once
    /// and met by every token, so a batch of decode positions reads the weights once and pays per token only the
    /// integer products. Bit-identical to <see cref="Gemv8"/> token by token.
    /// </summary>
    public static void GemmN(byte* group, nint groupBytes, int groups, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride)
    {
        for (var i = 0; i < groups; i++, group += groupBytes, y += Rows)
        {
            if (AvxVnni.IsSupported)
                GemmN<VnniSums>(group, act, actStride, tokens, cols, y, yStride);
            else if (Avx2.IsSupported)
                GemmN<MaddSums>(group, act, actStride, tokens, cols, y, yStride);
            else
                ScalarGemmN(group, groupBytes, 1, act, actStride, tokens, cols, y, yStride);
        }
    }

    /// <summary>One token: the accumulator stays in a register (a trip through L1 per block measured 7 % slower).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Gemv8<TSums>(byte* group, byte* act, int cols, float* y)
        where TSums : IBlockSums
    {
        var nb = cols / 32;
        var qs = ActivationQuant.Q8_0Qs(act);
        var da = ActivationQuant.Q8_0D(act, cols);
        var o8 = ActivationQuant.Q8_0O8(act, cols);
        var acc = Vector256<float>.Zero;
        for (var b = 0; b < nb; b++)
        {
            var g = group + b * GroupBlockBytes;
            Unpack(g, out var lo0, out var hi0, out var lo1, out var hi1, out var lo2, out var hi2, out var lo3, out var hi3);
            var isum = TSums.Sums(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, qs + 32 * b, o8[b]);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), Scales(g) * Vector256.Create(da[b]), acc);
        }
        acc.Store(y);
    }

    /// <summary>
    /// The most tokens <see cref="GemvFew(byte*, nint, int, byte*, nint, int, int, float*, nint)"/> serves (its
    /// accumulators fill the registers): eight tokens as two fours measured slower than the tiled batched kernel.
    /// </summary>
    public const int FewTokens = 4;

    /// <summary>
    /// Groups of eight rows against 2 to <see cref="FewTokens"/> tokens (arguments as <see cref="GemmN"/>), a few
    /// sessions decoding together: each group is streamed block after block as one token's product streams it
    /// (sequential reads the prefetcher follows), each block unpacked once for all tokens, their accumulators in
    /// registers. The tiled batched kernels read eight groups side by side and measured 2.4x one token's time for two
    /// tokens. Bit-identical to <see cref="Gemv8(byte*, byte*, int, float*)"/> token by token.
    /// </summary>
    public static void GemvFew(byte* group, nint groupBytes, int groups, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride)
    {
        if (!Avx2.IsSupported || tokens > FewTokens)
        {
            GemmN(group, groupBytes, groups, act, actStride, tokens, cols, y, yStride);
            return;
        }
        for (var i = 0; i < groups; i++, group += groupBytes, y += Rows)
        {
            if (AvxVnni.IsSupported)
                GemvFew<VnniSums>(group, act, actStride, tokens, cols, y, yStride);
            else
                GemvFew<MaddSums>(group, act, actStride, tokens, cols, y, yStride);
        }
    }

    /// <summary>One group of eight rows against 1 to <see cref="FewTokens"/> tokens.</summary>
    internal static void GemvFew<TSums>(byte* group, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride)
        where TSums : IBlockSums
    {
        switch (tokens)
        {
            case 1:
                Gemv8<TSums>(group, act, cols, y);
                break;
            case 2:
                GemvFew<TSums, Two>(group, act, actStride, cols, y, yStride);
                break;
            case 3:
                GemvFew<TSums, Three>(group, act, actStride, cols, y, yStride);
                break;
            case 4:
                GemvFew<TSums, Four>(group, act, actStride, cols, y, yStride);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"1 to {FewTokens} tokens.");
        }
    }

    internal interface ITokenCount
    {
        static abstract int Count { get; }
    }

    internal readonly struct Two : ITokenCount
    {
        public static int Count => 2;
    }

    internal readonly struct Three : ITokenCount
    {
        public static int Count => 3;
    }

    internal readonly struct Four : ITokenCount
    {
        public static int Count => 4;
    }

    // TCount is a value type, so the JIT compiles one copy per count with the unused tokens' code removed.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvFew<TSums, TCount>(byte* group, byte* act, nint actStride, int cols, float* y, nint yStride)
        where TSums : IBlockSums
        where TCount : ITokenCount
    {
        var nb = cols / 32;
        var dOffset = (nint)((byte*)ActivationQuant.Q8_0D(act, cols) - act);
        var oOffset = (nint)((byte*)ActivationQuant.Q8_0O8(act, cols) - act);
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var acc2 = Vector256<float>.Zero;
        var acc3 = Vector256<float>.Zero;
        for (var b = 0; b < nb; b++)
        {
            var g = group + b * GroupBlockBytes;
            Unpack(g, out var lo0, out var hi0, out var lo1, out var hi1, out var lo2, out var hi2, out var lo3, out var hi3);
            var dw = Scales(g);
            var x = act + 32 * b;
            var m = act + 4 * b;
            acc0 = TokenBlock<TSums>(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, dw, x, m, dOffset, oOffset, acc0);
            acc1 = TokenBlock<TSums>(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, dw, x + actStride, m + actStride, dOffset, oOffset, acc1);
            if (TCount.Count > 2)
                acc2 = TokenBlock<TSums>(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, dw, x + 2 * actStride, m + 2 * actStride, dOffset, oOffset, acc2);
            if (TCount.Count > 3)
                acc3 = TokenBlock<TSums>(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, dw, x + 3 * actStride, m + 3 * actStride, dOffset, oOffset, acc3);
        }
        acc0.Store(y);
        acc1.Store(y + yStride);
        if (TCount.Count > 2)
            acc2.Store(y + 2 * yStride);
        if (TCount.Count > 3)
            acc3.Store(y + 3 * yStride);
    }

    /// <summary>
    /// One token's share of one block: its exact integer sums for the eight rows, times the rows' scales and the token's,
    /// added to <paramref name="acc"/> in one fused multiply-add. <paramref name="x"/> is the token's quants of the
    /// block, <paramref name="meta"/> the block's slot in the token's per-block arrays, which sit at the given offsets.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TokenBlock<TSums>(Vector256<byte> lo0, Vector256<byte> hi0, Vector256<byte> lo1, Vector256<byte> hi1,
        Vector256<byte> lo2, Vector256<byte> hi2, Vector256<byte> lo3, Vector256<byte> hi3, Vector256<float> dw, byte* x, byte* meta,
        nint dOffset, nint oOffset, Vector256<float> acc)
        where TSums : IBlockSums
    {
        var isum = TSums.Sums(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, (sbyte*)x, *(int*)(meta + oOffset));
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), dw * Vector256.Create(*(float*)(meta + dOffset)), acc);
    }

    /// <summary>The nibbles of one block of a group: chunk c's low nibbles in lo<i>c</i>, high ones in hi<i>c</i>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(byte* g, out Vector256<byte> lo0, out Vector256<byte> hi0, out Vector256<byte> lo1, out Vector256<byte> hi1,
        out Vector256<byte> lo2, out Vector256<byte> hi2, out Vector256<byte> lo3, out Vector256<byte> hi3)
    {
        var mask = Vector256.Create((byte)0x0F);
        var raw0 = Vector256.Load(g + 16);
        var raw1 = Vector256.Load(g + 48);
        var raw2 = Vector256.Load(g + 80);
        var raw3 = Vector256.Load(g + 112);
        lo0 = raw0 & mask; hi0 = Vector256.ShiftRightLogical(raw0.AsUInt16(), 4).AsByte() & mask;
        lo1 = raw1 & mask; hi1 = Vector256.ShiftRightLogical(raw1.AsUInt16(), 4).AsByte() & mask;
        lo2 = raw2 & mask; hi2 = Vector256.ShiftRightLogical(raw2.AsUInt16(), 4).AsByte() & mask;
        lo3 = raw3 & mask; hi3 = Vector256.ShiftRightLogical(raw3.AsUInt16(), 4).AsByte() & mask;
    }

    /// <summary>The most tokens <see cref="GemmN{TSums}"/> keeps accumulators for at once.</summary>
    private const int MaxTokens = 16;

    /// <summary>
    /// The batched kernel. Accumulators live in a small stack buffer (eight floats per token, in L1): one load and one
    /// store per token and block beside eight integer products, and any number of tokens runs the same loop. (In y
    /// itself they would sit a row count apart, all in one L1 set, and thrash at 16 tokens.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void GemmN<TSums>(byte* group, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride)
        where TSums : IBlockSums
    {
        var nb = cols / 32;
        // Every part of a token's activations sits at a fixed distance from its start: one pointer per token walks all.
        var dOffset = (nint)((byte*)ActivationQuant.Q8_0D(act, cols) - act);
        var oOffset = (nint)((byte*)ActivationQuant.Q8_0O8(act, cols) - act);
        var accs = stackalloc float[MaxTokens * Rows];
        for (var t0 = 0; t0 < tokens; t0 += MaxTokens)
        {
            var count = Math.Min(MaxTokens, tokens - t0);
            new Span<float>(accs, count * Rows).Clear();
            var first = act + t0 * actStride;
            for (var b = 0; b < nb; b++)
            {
                var g = group + b * GroupBlockBytes;
                Unpack(g, out var lo0, out var hi0, out var lo1, out var hi1, out var lo2, out var hi2, out var lo3, out var hi3);
                var dw = Scales(g);
                var token = first + 32 * b;
                var meta = first + 4 * b;
                var acc = accs;
                for (var t = 0; t < count; t++)
                {
                    TokenBlock<TSums>(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, dw, token, meta, dOffset, oOffset, Vector256.Load(acc)).Store(acc);
                    token += actStride;
                    meta += actStride;
                    acc += Rows;
                }
            }
            for (var t = 0; t < count; t++)
                Vector256.Load(accs + t * Rows).Store(y + (t0 + t) * yStride);
        }
    }

    /// <summary>The same arithmetic for one row in the file's layout (memory-mapped weights): one (row, token) pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float RowDot(byte* w, byte* act, int cols)
    {
        var nb = cols / 32;
        var qs = ActivationQuant.Q8_0Qs(act);
        var da = ActivationQuant.Q8_0D(act, cols);
        var o8 = ActivationQuant.Q8_0O8(act, cols);
        float acc = 0;
        for (var b = 0; b < nb; b++)
        {
            var block = w + b * BlockBytes;
            int isum;
            if (Avx2.IsSupported)
            {
                var raw = Vector128.Load(block + 2);
                var q = Vector256.Create(raw, Vector128.ShiftRightLogical(raw.AsUInt16(), 4).AsByte()) & Vector256.Create((byte)0x0F);
                var p32 = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, Vector256.Load(qs + 32 * b)), Vector256<short>.One);
                isum = Vector256.Sum(p32) - o8[b];
            }
            else
            {
                isum = -o8[b];
                for (var j = 0; j < 16; j++)
                    isum += (block[2 + j] & 0xF) * qs[32 * b + j] + (block[2 + j] >> 4) * qs[32 * b + 16 + j];
            }
            acc = MathF.FusedMultiplyAdd(isum, Fp16.ToSingle(*(ushort*)block) * da[b], acc);
        }
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RowDot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        TokenLoop.Four(&RowDot, w, act, actStride, cols, y, yStride);

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
                        isum += ((v & 0xF) - 8) * qs[32 * b + 4 * c + k] + ((v >> 4) - 8) * qs[32 * b + 16 + 4 * c + k];
                    }
                }
                acc = MathF.FusedMultiplyAdd(isum, Fp16.ToSingle(((ushort*)g)[r]) * da[b], acc);
            }
            y[r] = acc;
        }
    }

    public static void ScalarGemmN(byte* group, nint groupBytes, int groups, byte* act, nint actStride, int tokens, int cols, float* y, nint yStride) =>
        TokenLoop.Groups(&ScalarGemv8, group, groupBytes, groups, act, actStride, tokens, cols, y, yStride);

    /// <summary>The eight rows' f16 scales of one block as floats (exact for finite values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Scales(byte* g)
    {
        var h = Vector256.ShiftLeft(Avx2.ConvertToVector256Int32(Vector128.Load((ushort*)g)), 16);
        return (Vector256.ShiftRightArithmetic(h, 3) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector256.Create(Pow2To112);
    }

    /// <summary>
    /// Lane r: the exact sum over one block of (weight - 8) x activation for row r, given the block's nibbles unpacked
    /// (chunk c's lanes hold weights 4c..4c+3 in <c>lo</c> and 16+4c.. in <c>hi</c> of every row, met by the same four
    /// activations broadcast) and <c>offset</c>, 8 x the sum of the block's activations. Integer sums are exact, so
    /// every implementation gives the same result.
    /// </summary>
    internal interface IBlockSums
    {
        static abstract Vector256<int> Sums(Vector256<byte> lo0, Vector256<byte> hi0, Vector256<byte> lo1, Vector256<byte> hi1,
            Vector256<byte> lo2, Vector256<byte> hi2, Vector256<byte> lo3, Vector256<byte> hi3, sbyte* x, int offset);
    }

    /// <summary>
    /// AVX2: u8 x i8 pairs to i16 (<c>vpmaddubsw</c>), added in 16 bits, then to i32 (<c>vpmaddwd</c>). The 16-bit
    /// partial sums stay below 8 x 2 x 15 x 127 = 30480, so they never saturate.
    /// </summary>
    internal readonly struct MaddSums : IBlockSums
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Sums(Vector256<byte> lo0, Vector256<byte> hi0, Vector256<byte> lo1, Vector256<byte> hi1,
            Vector256<byte> lo2, Vector256<byte> hi2, Vector256<byte> lo3, Vector256<byte> hi3, sbyte* x, int offset)
        {
            // Two chains of four, so consecutive tokens' sums overlap in the pipeline.
            var p = Avx2.MultiplyAddAdjacent(lo0, Vector256.Create(*(int*)x).AsSByte())
                + Avx2.MultiplyAddAdjacent(hi0, Vector256.Create(*(int*)(x + 16)).AsSByte())
                + (Avx2.MultiplyAddAdjacent(lo1, Vector256.Create(*(int*)(x + 4)).AsSByte())
                + Avx2.MultiplyAddAdjacent(hi1, Vector256.Create(*(int*)(x + 20)).AsSByte()));
            var q = Avx2.MultiplyAddAdjacent(lo2, Vector256.Create(*(int*)(x + 8)).AsSByte())
                + Avx2.MultiplyAddAdjacent(hi2, Vector256.Create(*(int*)(x + 24)).AsSByte())
                + (Avx2.MultiplyAddAdjacent(lo3, Vector256.Create(*(int*)(x + 12)).AsSByte())
                + Avx2.MultiplyAddAdjacent(hi3, Vector256.Create(*(int*)(x + 28)).AsSByte()));
            return Avx2.MultiplyAddAdjacent(p + q, Vector256<short>.One) - Vector256.Create(offset);
        }
    }

    /// <summary>
    /// AVX-VNNI: <c>vpdpbusd</c> multiplies u8 x i8 and adds groups of four into i32 lanes in one instruction, a third of
    /// the AVX2 sequence's work; the sum starts at -offset so no subtraction is left.
    /// </summary>
    internal readonly struct VnniSums : IBlockSums
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Sums(Vector256<byte> lo0, Vector256<byte> hi0, Vector256<byte> lo1, Vector256<byte> hi1,
            Vector256<byte> lo2, Vector256<byte> hi2, Vector256<byte> lo3, Vector256<byte> hi3, sbyte* x, int offset)
        {
            // Two chains, as in MaddSums.
            var a = AvxVnni.MultiplyWideningAndAdd(Vector256.Create(-offset), lo0, Vector256.Create(*(int*)x).AsSByte());
            var b = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, hi0, Vector256.Create(*(int*)(x + 16)).AsSByte());
            a = AvxVnni.MultiplyWideningAndAdd(a, lo1, Vector256.Create(*(int*)(x + 4)).AsSByte());
            b = AvxVnni.MultiplyWideningAndAdd(b, hi1, Vector256.Create(*(int*)(x + 20)).AsSByte());
            a = AvxVnni.MultiplyWideningAndAdd(a, lo2, Vector256.Create(*(int*)(x + 8)).AsSByte());
            b = AvxVnni.MultiplyWideningAndAdd(b, hi2, Vector256.Create(*(int*)(x + 24)).AsSByte());
            a = AvxVnni.MultiplyWideningAndAdd(a, lo3, Vector256.Create(*(int*)(x + 12)).AsSByte());
            b = AvxVnni.MultiplyWideningAndAdd(b, hi3, Vector256.Create(*(int*)(x + 28)).AsSByte());
            return a + b;
        }
    }
}
