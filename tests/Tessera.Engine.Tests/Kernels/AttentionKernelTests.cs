using Tessera.Engine.Backends;

namespace Tessera.Engine.Tests.Kernels;

public class AttentionKernelTests
{
    [Theory]
    [InlineData(64, 4, 1, 0, 1)]
    [InlineData(64, 4, 2, 0, 13)]
    [InlineData(64, 8, 2, 5, 7)]
    [InlineData(64, 2, 2, 30, 1)]
    [InlineData(128, 4, 2, 3, 9)]
    [InlineData(80, 2, 1, 2, 6)]
    [InlineData(8, 2, 1, 2, 5)]
    public void BlockedAttention_IsBitIdenticalToOneDotPerPair(int d, int heads, int kvHeads, int start, int tokens)
    {
        var random = new Random(d * 31 + tokens);
        float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var q = Rand(tokens * heads * d);
        var k = Rand((start + tokens) * kvHeads * d);
        var v = Rand((start + tokens) * kvHeads * d);
        var shape = new AttentionShape(tokens, start, heads, kvHeads, d, 1f / MathF.Sqrt(d));
        var expected = new float[tokens * heads * d];
        FloatKernels.AttentionPerPair(q, k, v, expected, shape, 0, heads, new float[start + tokens]);

        // Blocked (room for a block of scores), one query at a time (room for one row), and through the backend.
        var blocked = new float[expected.Length];
        FloatKernels.Attention(q, k, v, blocked, shape, 0, heads, new float[FloatKernels.AttentionQueryBlock * (start + tokens)]);
        var single = new float[expected.Length];
        FloatKernels.Attention(q, k, v, single, shape, 0, heads, new float[start + tokens]);
        var viaBackend = new float[expected.Length];
        using (var backend = new CpuBackend(2))
            backend.Attention(q, k, v, viaBackend, shape);

        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(blocked[i]));
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(single[i]));
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(viaBackend[i]));
        }
    }

    [Fact]
    public void BlockedScores_ReproduceTensorPrimitivesDot()
    {
        // If this fails the runtime changed Dot's order; attention then falls back to the per-pair path (still correct).
        Assert.True(FloatKernels.DotMatchesBlocked || !System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated);
    }
}
