using Tessera.Engine.Sampling;
using Tessera.Generation;

namespace Tessera.Engine.Tests.Sampling;

public sealed class SamplerTests
{
    private static float[] Logits(params float[] values) => values;

    [Fact]
    public void Greedy_PicksTheLargestLogit()
    {
        var sampler = new Sampler(SamplingParameters.Greedy, 5);
        Assert.Equal(3, sampler.Sample(Logits(0.1f, 2f, -1f, 5f, 4.9f), [], 0));
    }

    [Fact]
    public void SameSeed_GivesSameTokens_DifferentSeed_Differs()
    {
        var random = new Random(7);
        var logits = Enumerable.Range(0, 1000).Select(_ => (float)random.NextDouble() * 3).ToArray();
        int[] Draw(ulong seed)
        {
            var s = new Sampler(new SamplingParameters { Temperature = 1.5f, TopK = 0, TopP = 1, MinP = 0, Seed = seed }, 1000);
            return Enumerable.Range(0, 50).Select(step => s.Sample(logits, [], step)).ToArray();
        }

        Assert.Equal(Draw(42), Draw(42));
        Assert.NotEqual(Draw(42), Draw(43));
    }

    [Fact]
    public void TopK_OnlyEverPicksAmongTheKBest()
    {
        var logits = Logits(5, 4, 3, 2, 1, 0, -1);
        var sampler = new Sampler(new SamplingParameters { Temperature = 5, TopK = 2, TopP = 1, MinP = 0, Seed = 1 }, 7);
        var seen = Enumerable.Range(0, 500).Select(step => sampler.Sample(logits, [], step)).ToHashSet();
        Assert.Equal(new HashSet<int> { 0, 1 }, seen);
    }

    [Fact]
    public void TopP_KeepsTheSmallestSetReachingP()
    {
        // Probabilities ~ 0.64, 0.24, 0.09, 0.03: top-p 0.8 keeps the first two.
        var logits = Logits(3, 2, 1, 0);
        var sampler = new Sampler(new SamplingParameters { Temperature = 1, TopK = 0, TopP = 0.8f, MinP = 0, Seed = 3 }, 4);
        var seen = Enumerable.Range(0, 500).Select(step => sampler.Sample(logits, [], step)).ToHashSet();
        Assert.Equal(new HashSet<int> { 0, 1 }, seen);
    }

    [Fact]
    public void MinP_DropsTokensBelowTheFractionOfTheBest()
    {
        var logits = Logits(0, -0.5f, -10, -10);
        var sampler = new Sampler(new SamplingParameters { Temperature = 1, TopK = 0, TopP = 1, MinP = 0.1f, Seed = 5 }, 4);
        var seen = Enumerable.Range(0, 500).Select(step => sampler.Sample(logits, [], step)).ToHashSet();
        Assert.Equal(new HashSet<int> { 0, 1 }, seen);
    }

    [Fact]
    public void RepetitionPenalty_CanChangeTheGreedyChoice()
    {
        var logits = Logits(2.0f, 1.9f, 0);
        var sampler = new Sampler(SamplingParameters.Greedy with { RepetitionPenalty = 1.2f }, 3);
        Assert.Equal(1, sampler.Sample(logits, [0, 0], 0));
        Assert.Equal(0, new Sampler(SamplingParameters.Greedy, 3).Sample(logits, [0, 0], 0));
    }

    [Fact]
    public void FrequencyAndPresencePenalties_SubtractByCount()
    {
        var logits = Logits(3.0f, 2.5f, 0);
        // Token 0 appears twice: 3 - 2*0.2 - 0.2 = 2.4 < 2.5.
        var sampler = new Sampler(SamplingParameters.Greedy with { FrequencyPenalty = 0.2f, PresencePenalty = 0.2f }, 3);
        Assert.Equal(1, sampler.Sample(logits, [0, 0], 0));
    }

    [Fact]
    public void Temperature_DrawsFollowTheSoftmax()
    {
        var logits = Logits(MathF.Log(0.7f), MathF.Log(0.2f), MathF.Log(0.1f));
        var sampler = new Sampler(new SamplingParameters { Temperature = 1, TopK = 0, TopP = 1, MinP = 0, Seed = 11 }, 3);
        var counts = new int[3];
        for (var step = 0; step < 20_000; step++)
            counts[sampler.Sample(logits, [], step)]++;
        Assert.InRange(counts[0] / 20_000.0, 0.68, 0.72);
        Assert.InRange(counts[1] / 20_000.0, 0.18, 0.22);
        Assert.InRange(counts[2] / 20_000.0, 0.08, 0.12);
    }

    [Theory]
    [InlineData(-1f, 40, 0.9f, 0f)]
    [InlineData(1f, -1, 0.9f, 0f)]
    [InlineData(1f, 40, 0f, 0f)]
    [InlineData(1f, 40, 1.5f, 0f)]
    [InlineData(1f, 40, 0.9f, 2f)]
    public void InvalidParameters_AreRejectedWithAMessage(float temperature, int topK, float topP, float minP)
    {
        var p = new SamplingParameters { Temperature = temperature, TopK = topK, TopP = topP, MinP = minP };
        var e = Assert.Throws<ArgumentException>(() => p.Validate());
        Assert.Contains("must", e.Message);
    }

    [Fact]
    public void LogProbabilities_AreNormalised()
    {
        var logits = Logits(1, 2, 3, 4);
        var total = Enumerable.Range(0, 4).Sum(i => Math.Exp(Sampler.LogProbability(logits, i)));
        Assert.Equal(1.0, total, 5);
        var top = Sampler.TopLogProbabilities(logits, 2);
        Assert.Equal(3, top[0].Id);
        Assert.Equal(2, top[1].Id);
    }
}
