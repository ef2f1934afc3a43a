using Tessera.Engine.Backends;
using Tessera.Engine.Model;
using Tessera.Generation;

namespace Tessera.Engine.Tests.Model;

public sealed class FloatKernelTests
{
    [Fact]
    public void Attention_MatchesANaiveCausalGroupedQueryAttention()
    {
        const int heads = 4, kvHeads = 2, d = 8, start = 3, tokens = 4;
        var random = new Random(5);
        float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var q = Rand(tokens * heads * d);
        var k = Rand((start + tokens) * kvHeads * d);
        var v = Rand((start + tokens) * kvHeads * d);
        var output = new float[tokens * heads * d];
        var scale = 1f / MathF.Sqrt(d);
        FloatKernels.Attention(q, k, v, output, new AttentionShape(tokens, start, heads, kvHeads, d, scale), 0, heads, new float[start + tokens]);

        for (var t = 0; t < tokens; t++)
        {
            for (var h = 0; h < heads; h++)
            {
                var kvh = h / (heads / kvHeads);
                var visible = start + t + 1;
                var scores = new double[visible];
                for (var j = 0; j < visible; j++)
                {
                    double s = 0;
                    for (var i = 0; i < d; i++)
                        s += q[(t * heads + h) * d + i] * k[(j * kvHeads + kvh) * d + i];
                    scores[j] = s * scale;
                }
                var max = scores.Max();
                var exp = scores.Select(s => Math.Exp(s - max)).ToArray();
                var sum = exp.Sum();
                for (var i = 0; i < d; i++)
                {
                    double o = 0;
                    for (var j = 0; j < visible; j++)
                        o += exp[j] / sum * v[(j * kvHeads + kvh) * d + i];
                    // The kernel rounds queries and probabilities to f16 as llama.cpp does: allow that error.
                    Assert.True(Math.Abs(o - output[(t * heads + h) * d + i]) < 2e-3, $"{o} vs {output[(t * heads + h) * d + i]}");
                }
            }
        }
    }

    [Fact]
    public void RmsNorm_ScalesEachRowToUnitRootMeanSquare()
    {
        var x = new float[] { 1, 2, 3, 4, -1, -1, -1, -1 };
        var y = new float[8];
        FloatKernels.RmsNorm(x, new float[] { 1, 1, 1, 2 }, y, 2, 0);
        var rms = MathF.Sqrt((1 + 4 + 9 + 16) / 4f);
        Assert.Equal(1 / rms, y[0], 5);
        Assert.Equal(4 / rms * 2, y[3], 5);
        Assert.Equal(-2f, y[7], 5);
    }

    [Fact]
    public void Rope_NormalRotatesAdjacentPairs_NeoXRotatesHalves_AndPreservesNorm()
    {
        var normal = new RopeTable(16, 4, 10000, 1, RopeKind.Normal);
        var neox = new RopeTable(16, 4, 10000, 1, RopeKind.NeoX);
        var a = new float[] { 1, 0, 1, 0 };
        normal.Apply(a, 1, 4, 1);
        Assert.Equal(MathF.Cos(1), a[0], 5);
        Assert.Equal(MathF.Sin(1), a[1], 5);
        var b = new float[] { 1, 1, 0, 0 };
        neox.Apply(b, 1, 4, 1);
        Assert.Equal(MathF.Cos(1), b[0], 5);
        Assert.Equal(MathF.Sin(1), b[2], 5);
        var c = new float[] { 0.3f, -0.7f, 0.2f, 0.9f };
        var before = c.Sum(v => v * v);
        normal.Apply(c, 1, 4, 11);
        Assert.Equal(before, c.Sum(v => v * v), 4);
    }

    [Fact]
    public void KvCache_GrowsOnDemand_KeepsWhatItHolds_AndRefusesPastTheContext()
    {
        using var backend = new CpuBackend(1);
        using var cache = new KvCache(new LayerRange(0, 2), 8, maxTokens: 100, backend, initialCapacity: 4);
        cache.Reserve(3);
        var written = Enumerable.Range(1, 3 * 8).Select(i => (float)i).ToArray();
        backend.Upload(written, cache.Values(1, 3));
        cache.Advance(3);
        cache.Reserve(47);
        Assert.True(cache.Capacity >= 50);
        var read = new float[written.Length];
        backend.Download(cache.Values(1, 3), read);
        Assert.Equal(written, read);
        cache.Advance(47);
        Assert.Throws<ContextFullException>(() => cache.Reserve(51));
        cache.Truncate(10);
        Assert.Equal(10, cache.Length);
    }

    [Fact]
    public void LayerRange_ParsesAndValidates()
    {
        Assert.Equal(new LayerRange(0, 11), LayerRange.Parse("0-11"));
        Assert.Throws<FormatException>(() => LayerRange.Parse("5-2"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerRange(3, 1));
    }

    /// <summary>The backend splits long SwiGLU rows over its threads; every value must be what one call computes.</summary>
    [Theory]
    [InlineData(5632)]
    [InlineData(4 * 5632 + 37)]
    public void SwiGlu_SplitOverThreads_EqualsOneCall_BitForBit(int n)
    {
        var rng = new Random(n);
        var gate = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 12 - 6)).ToArray();
        var up = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var expected = new float[n];
        FloatKernels.SwiGlu(gate, up, expected);
        using var backend = new CpuBackend(2);
        var actual = new float[n];

        backend.SwiGlu(gate, up, actual);

        Assert.Equal(expected, actual);
        Assert.Equal(0.5f * (gate[0] / (1 + MathF.Exp(-gate[0]))) * up[0] * 2, actual[0], 1e-5f);
    }
}
