using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>
/// The batched AVX-512 kernel of regrouped Q4_0 matrices (<see cref="Q4_0Rows8"/>): eight rows against tokens taken
/// two at a time from <see cref="ActivationPairs"/>. Each 256-bit run of weights (a chunk of the group's eight rows) is
/// widened once per block to 512 bits with every row's 4 bytes doubled, so lane 2r meets token t0's quants and lane
/// 2r+1 token t1's: one <c>vpmaddubsw</c> on 512 bits does two tokens' products. 512-bit integer products run at full
/// width on this kind of CPU (Zen 5), where they outrun 256-bit <c>vpdpbusd</c> (AVX-VNNI) per product; .NET 10 has no
/// 512-bit VNNI. Per (row, token) the arithmetic is <see cref="Q4_0Rows8.Gemv8"/>'s: exact block sums, then one fused
/// multiply-add per block with the same scale product, so results are bit-identical to it.
/// </summary>
internal static unsafe class Q4_0Rows8Pairs
{
    private const int GroupBlockBytes = 144;

    /// <summary>The most pairs of tokens, and of groups, one pass keeps accumulators for (4 KiB of them).</summary>
    private const int MaxPairs = 8, MaxGroups = 8;

    /// <summary>
    /// Blocks per column tile: the groups of a pass meet one tile of the activations after the other, so the tile (at
    /// most 8 pairs x 32 x 80 bytes = 20 KiB) stays in L1. Whole rows at once, a 5632-input product's four pairs of
    /// tokens (56 KiB) did not, and it ran 1.6x slower per weight than a 2048-input one.
    /// </summary>
    private const int TileBlocks = 32;

    /// <summary>
    /// <paramref name="groups"/> groups of eight rows (the first at <paramref name="group"/>, <paramref name="groupBytes"/>
    /// apart) against <paramref name="tokens"/> tokens whose pairs start at <paramref name="pairs"/>,
    /// <paramref name="pairStride"/> bytes apart: y[t * yStride + 8 g + r].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemm(byte* group, nint groupBytes, int groups, byte* pairs, nint pairStride, int tokens, int cols, float* y, nint yStride)
    {
        var nb = cols / 32;
        var accs = stackalloc float[MaxGroups * MaxPairs * 16];
        var allPairs = (tokens + 1) / 2;
        for (var p0 = 0; p0 < allPairs; p0 += MaxPairs)
        {
            var pairCount = Math.Min(MaxPairs, allPairs - p0);
            for (var g0 = 0; g0 < groups; g0 += MaxGroups)
            {
                var groupCount = Math.Min(MaxGroups, groups - g0);
                new Span<float>(accs, groupCount * MaxPairs * 16).Clear();
                for (var k0 = 0; k0 < nb; k0 += TileBlocks)
                {
                    for (var gi = 0; gi < groupCount; gi++)
                    {
                        Tile(group + (g0 + gi) * groupBytes, pairs + p0 * pairStride, pairStride, pairCount,
                            k0, Math.Min(nb, k0 + TileBlocks), accs + gi * MaxPairs * 16);
                    }
                }
                // Even lanes (token t0) to the lower half, odd lanes (t1) to the upper.
                var apart = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
                for (var gi = 0; gi < groupCount; gi++)
                {
                    for (var p = 0; p < pairCount; p++)
                    {
                        var v = Avx512F.PermuteVar16x32(Vector512.Load(accs + (gi * MaxPairs + p) * 16), apart);
                        var t0 = 2 * (p0 + p);
                        var out0 = y + t0 * yStride + 8 * (g0 + gi);
                        v.GetLower().Store(out0);
                        if (t0 + 1 < tokens)
                            v.GetUpper().Store(out0 + yStride);
                    }
                }
            }
        }
    }

    /// <summary>Blocks [b0, b1) of one group against <paramref name="count"/> pairs, into their accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile(byte* group, byte* pairs, nint pairStride, int count, int b0, int b1, float* accs)
    {
        var mask = Vector512.Create((byte)0x0F);
        // Lane 2r and 2r+1 take row r: weights and scales doubled for the two tokens of a pair.
        var twice = Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        if (count == 4)
        {
            acc0 = Vector512.Load(accs);
            acc1 = Vector512.Load(accs + 16);
            acc2 = Vector512.Load(accs + 32);
            acc3 = Vector512.Load(accs + 48);
        }
        for (var b = b0; b < b1; b++)
        {
            var g = group + b * GroupBlockBytes;
            var w0 = Avx512F.PermuteVar16x32(Vector256.Load((int*)(g + 16)).ToVector512Unsafe(), twice).AsByte();
            var w1 = Avx512F.PermuteVar16x32(Vector256.Load((int*)(g + 48)).ToVector512Unsafe(), twice).AsByte();
            var w2 = Avx512F.PermuteVar16x32(Vector256.Load((int*)(g + 80)).ToVector512Unsafe(), twice).AsByte();
            var w3 = Avx512F.PermuteVar16x32(Vector256.Load((int*)(g + 112)).ToVector512Unsafe(), twice).AsByte();
            var lo0 = w0 & mask; var hi0 = Vector512.ShiftRightLogical(w0.AsUInt16(), 4).AsByte() & mask;
            var lo1 = w1 & mask; var hi1 = Vector512.ShiftRightLogical(w1.AsUInt16(), 4).AsByte() & mask;
            var lo2 = w2 & mask; var hi2 = Vector512.ShiftRightLogical(w2.AsUInt16(), 4).AsByte() & mask;
            var lo3 = w3 & mask; var hi3 = Vector512.ShiftRightLogical(w3.AsUInt16(), 4).AsByte() & mask;
            var dw = Avx512F.PermuteVar16x32(Q4_0Rows8.Scales(g).ToVector512Unsafe(), twice);
            var x = pairs + b * ActivationPairs.BlockBytes;
            if (count == 4)
            {
                // The usual decode batch (eight streams): accumulators in registers for the whole tile.
                acc0 = Pair(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, dw, x, acc0);
                acc1 = Pair(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, dw, x + pairStride, acc1);
                acc2 = Pair(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, dw, x + 2 * pairStride, acc2);
                acc3 = Pair(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, dw, x + 3 * pairStride, acc3);
                continue;
            }
            var acc = accs;
            for (var p = 0; p < count; p++)
            {
                Pair(lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, dw, x, Vector512.Load(acc)).Store(acc);
                x += pairStride;
                acc += 16;
            }
        }
        if (count == 4)
        {
            acc0.Store(accs);
            acc1.Store(accs + 16);
            acc2.Store(accs + 32);
            acc3.Store(accs + 48);
        }
    }

    /// <summary>One block of eight rows against one pair of tokens (at <paramref name="x"/>), added to <paramref name="acc"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pair(Vector512<byte> lo0, Vector512<byte> hi0, Vector512<byte> lo1, Vector512<byte> hi1,
        Vector512<byte> lo2, Vector512<byte> hi2, Vector512<byte> lo3, Vector512<byte> hi3, Vector512<float> dw, byte* x, Vector512<float> acc)
    {
        // Eight 16-bit partial sums per lane stay below 8 x 2 x 15 x 127 = 30480: no saturation.
        var s = Avx512BW.MultiplyAddAdjacent(lo0, Quants(x))
            + Avx512BW.MultiplyAddAdjacent(hi0, Quants(x + 32))
            + (Avx512BW.MultiplyAddAdjacent(lo1, Quants(x + 8))
            + Avx512BW.MultiplyAddAdjacent(hi1, Quants(x + 40)));
        var t = Avx512BW.MultiplyAddAdjacent(lo2, Quants(x + 16))
            + Avx512BW.MultiplyAddAdjacent(hi2, Quants(x + 48))
            + (Avx512BW.MultiplyAddAdjacent(lo3, Quants(x + 24))
            + Avx512BW.MultiplyAddAdjacent(hi3, Quants(x + 56)));
        var isum = Avx512BW.MultiplyAddAdjacent(s + t, Vector512<short>.One) - Vector512.Create(*(long*)(x + 72)).AsInt32();
        var scale = dw * Vector512.Create(*(long*)(x + 64)).AsSingle();
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), scale, acc);
    }

    /// <summary>Both tokens' four quants at <paramref name="x"/>, repeated over the 512 bits (a broadcast load).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Quants(byte* x) => Vector512.Create(*(long*)x).AsSByte();
}
