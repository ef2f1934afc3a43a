using Tessera.Generation;

namespace Tessera.Generation.Tests;

public sealed class GenerationLimitsTests
{
    private static readonly HashSet<int> End = [2, 32000];

    private static GenerationLimits Limits(int maxTokens, int maxPositions, IReadOnlySet<int>? end) => new(maxTokens, maxPositions, end);

    [Fact]
    public void AnEndToken_Stops_EvenWithBudgetLeft() =>
        Assert.Equal(FinishReason.Stop, Limits(100, 512, End).After(2, generated: 1, position: 10));

    [Fact]
    public void TheTokenBudget_EndsWithLength() =>
        Assert.Equal(FinishReason.Length, Limits(8, 512, End).After(5, generated: 8, position: 20));

    [Fact]
    public void TheLastPositionThatFits_IsUsed_ThenLength()
    {
        // Position 511 is the last of 512: a token sampled for it can still be fed; the one after cannot.
        Assert.Null(Limits(100, 512, End).After(5, generated: 3, position: 511));
        Assert.Equal(FinishReason.Length, Limits(100, 512, End).After(5, generated: 4, position: 512));
    }

    [Fact]
    public void WithoutEndTokens_OnlyTheLimitsEndASession() =>
        Assert.Null(Limits(100, 512, null).After(2, generated: 1, position: 10));

    [Theory]
    [InlineData(10, 5, 4096, 15)]
    [InlineData(4000, 200, 4096, 4096)]
    [InlineData(1, int.MaxValue, 4096, 4096)]
    public void For_APrompt_GivesPositionsForThePromptAndTheBudget_AtMostTheContext(int prompt, int maxTokens, int context, int positions)
    {
        var limits = GenerationLimits.For(prompt, maxTokens, context, End);

        Assert.Equal(positions, limits.MaxPositions);
        Assert.Equal(maxTokens, limits.MaxTokens);
        Assert.Same(End, limits.EndTokens);
    }

    [Fact]
    public void For_APrompt_EndsAfterExactlyTheBudget_OrWhenTheContextIsFull()
    {
        // A 10-token prompt with a budget of 5 in a context of 4096: tokens 1..4 go on, the 5th ends with length.
        var budget = GenerationLimits.For(10, 5, 4096, null);
        for (var generated = 1; generated < 5; generated++)
            Assert.Null(budget.After(7, generated, position: 10 + generated - 1));
        Assert.Equal(FinishReason.Length, budget.After(7, 5, position: 14));

        // The same prompt in a context of 12: positions 10 and 11 take the first two tokens, the third has no place.
        var context = GenerationLimits.For(10, 5, 12, null);
        Assert.Null(context.After(7, 1, position: 10));
        Assert.Null(context.After(7, 2, position: 11));
        Assert.Equal(FinishReason.Length, context.After(7, 3, position: 12));
    }
}
