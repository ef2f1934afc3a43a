using Tessera.Engine.Backends;

namespace Tessera.Engine.Tests.Kernels;

public class AttentionKernelTests
{
    private static float[] Rand(Random random, int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();

    /// <summary>
    /// A query's output depends only on its position and the cache: alone, inside a batch, over heads in parallel, it is
    /// the same to the bit (what lets a pipeline replay a session's prefix and rebuild the same cache).
    /// </summary>
    [Theory]
    [InlineData(64, 4, 1, 0, 13)]
    [InlineData(64, 8, 2, 5, 70)]
    [InlineData(128, 4, 2, 3, 9)]
    [InlineData(32, 8, 4, 60, 10)]
    [InlineData(80, 2, 1, 2, 6)]
    [InlineData(8, 2, 1, 2, 5)]
    public void AQuery_GivesTheSameBitsAloneInABatchAndAcrossThreads(int d, int heads, int kvHeads, int start, int tokens)
    {
        var random = new Random(d * 31 + tokens);
        var q = Rand(random, tokens * heads * d);
        var k = Rand(random, (start + tokens) * kvHeads * d);
        var v = Rand(random, (start + tokens) * kvHeads * d);
        var width = heads * d;
        var batch = new float[tokens * width];
        FloatKernels.Attention(q, k, v, batch, new AttentionShape(tokens, start, heads, kvHeads, d, 1f / MathF.Sqrt(d)), 0, heads, new float[start + tokens]);
        var viaBackend = new float[batch.Length];
        using (var backend = new CpuBackend(2))
            backend.Attention(q, k, v, viaBackend, new AttentionShape(tokens, start, heads, kvHeads, d, 1f / MathF.Sqrt(d)));

        for (var t = 0; t < tokens; t++)
        {
            var alone = new float[width];
            FloatKernels.Attention(q.AsSpan(t * width, width), k, v, alone, new AttentionShape(1, start + t, heads, kvHeads, d, 1f / MathF.Sqrt(d)), 0, heads, new float[start + t + 1]);
            for (var i = 0; i < width; i++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(batch[t * width + i]), BitConverter.SingleToInt32Bits(alone[i]));
                Assert.Equal(BitConverter.SingleToInt32Bits(batch[t * width + i]), BitConverter.SingleToInt32Bits(viaBackend[t * width + i]));
            }
        }
    }

    [Fact]
    public void GgmlExp_VectorAndScalarFormsAgree_AndStayWithinTwoUlpOfExp()
    {
        var random = new Random(3);
        var inputs = Enumerable.Range(0, 4096).Select(_ => (float)(random.NextDouble() * 200 - 110))
            .Concat([0f, -0f, 1f, -1f, 88.3f, 88.5f, -103.9f, -104.5f, -150f, -1000f, 1000f, float.NegativeInfinity, float.PositiveInfinity]).ToArray();
        for (var i = 0; i + 16 <= inputs.Length; i += 16)
        {
            var vector = GgmlMath.Exp(System.Runtime.Intrinsics.Vector512.Create(inputs.AsSpan(i, 16)));
            for (var l = 0; l < 16; l++)
            {
                var x = inputs[i + l];
                var scalar = GgmlMath.Exp(x);
                Assert.Equal(BitConverter.SingleToInt32Bits(scalar), BitConverter.SingleToInt32Bits(vector[l]));
                var exact = Math.Exp(x);
                if (exact < float.Epsilon || exact > float.MaxValue)
                    continue;
                var ulp = Math.Abs(BitConverter.SingleToInt32Bits(scalar) - BitConverter.SingleToInt32Bits((float)exact));
                Assert.True(ulp <= 2 || exact < 1.2e-38, $"exp({x}) = {scalar}, exact {exact}: {ulp} ulp");
            }
        }
        Assert.Equal(0f, GgmlMath.Exp(float.NegativeInfinity));
        Assert.Equal(float.PositiveInfinity, GgmlMath.Exp(1000f));
    }

    [Fact]
    public void SoftMax_SumsToOne_AndMasksNothingVisible()
    {
        var random = new Random(9);
        foreach (var n in new[] { 1, 5, 16, 17, 33, 64, 100 })
        {
            var row = Rand(random, n).Select(x => x * 5).ToArray();
            var expected = row.Select(x => Math.Exp(x - row.Max())).ToArray();
            var total = expected.Sum();
            FloatKernels.SoftMax(row);
            for (var j = 0; j < n; j++)
                Assert.True(Math.Abs(row[j] - expected[j] / total) <= 1e-6, $"n={n} [{j}]: {row[j]} vs {expected[j] / total}");
        }
    }
}
