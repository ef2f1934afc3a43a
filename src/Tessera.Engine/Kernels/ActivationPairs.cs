using System.Runtime.CompilerServices;

namespace Tessera.Engine.Kernels;

/// <summary>
/// Q8_0 activations of two tokens interleaved, for the batched 512-bit Q4_0 kernel (<see cref="Q4_0Rows8Pairs"/>): one
/// 8-byte broadcast then gives both tokens' four quants that meet a 4-byte run of weights, so one 512-bit integer
/// product serves two tokens with no shuffle per token.
/// </summary>
/// <remarks>
/// Per pair of tokens (t0, t1) and per block b, <see cref="BlockBytes"/> bytes at <c>80 b</c>: for c = 0..3, at 8c the
/// quants 4c..4c+3 of t0 then of t1 (met by low nibbles) and at 32 + 8c quants 16+4c.. (high nibbles); at 64 the two
/// scales (f32); at 72 the two offsets 8 x sum of quants (i32). An odd last token is paired with zeros.
/// </remarks>
internal static unsafe class ActivationPairs
{
    public const int BlockBytes = 80;

    /// <summary>Bytes of one pair of tokens with <paramref name="cols"/> inputs (64-byte aligned).</summary>
    public static nint Stride(int cols) => ((nint)cols / 32 * BlockBytes + 63) & ~63;

    /// <summary>Interleaves <paramref name="tokens"/> tokens of the Q8_0 layout (<see cref="ActivationQuant"/>) into pairs.</summary>
    public static void Pack(byte* act, nint actStride, int tokens, int cols, byte* pairs)
    {
        var nb = cols / 32;
        var stride = Stride(cols);
        for (var p = 0; p < (tokens + 1) / 2; p++)
        {
            var pair = pairs + p * stride;
            var t0 = act + 2 * p * actStride;
            Half(pair, t0, cols, nb, 0);
            if (2 * p + 1 < tokens)
                Half(pair, t0 + actStride, cols, nb, 1);
            else
                Zero(pair, nb);
        }
    }

    /// <summary>Writes one token's part (<paramref name="side"/> 0 or 1) of every block of a pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Half(byte* pair, byte* token, int cols, int nb, int side)
    {
        var qs = (uint*)ActivationQuant.Q8_0Qs(token);
        var d = ActivationQuant.Q8_0D(token, cols);
        var o8 = ActivationQuant.Q8_0O8(token, cols);
        for (var b = 0; b < nb; b++)
        {
            var block = (uint*)(pair + b * BlockBytes);
            for (var k = 0; k < 8; k++)
                block[2 * k + side] = qs[8 * b + k];
            ((float*)block)[16 + side] = d[b];
            ((int*)block)[18 + side] = o8[b];
        }
    }

    private static void Zero(byte* pair, int nb)
    {
        for (var b = 0; b < nb; b++)
        {
            var block = (uint*)(pair + b * BlockBytes);
            for (var k = 0; k < 10; k++)
                block[2 * k + 1] = 0;
        }
    }
}
