using Tessera.Serving;

namespace Tessera.Serving.Tests;

public sealed class GenerationLimitsTests
{
    private static readonly HashSet<int> End = [2, 32000];

    [Fact]
    public void AnEndToken_Stops_EvenWithBudgetLeft() =>
        Assert.Equal("stop", GenerationLimits.FinishReason(2, generated: 1, nextPosition: 10, maxTokens: 100, maxPositions: 512, End));

    [Fact]
    public void TheTokenBudget_EndsWithLength() =>
        Assert.Equal("length", GenerationLimits.FinishReason(5, generated: 8, nextPosition: 20, maxTokens: 8, maxPositions: 512, End));

    [Fact]
    public void TheLastPositionThatFits_IsUsed_ThenLength()
    {
        // Position 511 is the last of 512: a token sampled for it can still be fed; the one after cannot.
        Assert.Null(GenerationLimits.FinishReason(5, generated: 3, nextPosition: 511, maxTokens: 100, maxPositions: 512, End));
        Assert.Equal("length", GenerationLimits.FinishReason(5, generated: 4, nextPosition: 512, maxTokens: 100, maxPositions: 512, End));
    }

    [Fact]
    public void WithoutEndTokens_OnlyTheLimitsEndASession() =>
        Assert.Null(GenerationLimits.FinishReason(2, generated: 1, nextPosition: 10, maxTokens: 100, maxPositions: 512, endTokens: null));
}
