using Tessera.Serving;

namespace Tessera.Serving.Tests;

/// <summary>What a replay sends and when a session may no longer be recovered (pure bookkeeping, no stages).</summary>
public sealed class SessionReplayTests
{
    [Fact]
    public void Entry_ReplaysPromptAndGeneratedTokensFromPositionZero_AndSamplesTheNextStep()
    {
        var entry = SessionReplay.Entry(7, [1, 450, 4996], [17354, 29892]);

        Assert.Equal(7ul, entry.Session);
        Assert.Equal(0, entry.Start);
        Assert.Equal([1, 450, 4996, 17354, 29892], entry.Tokens);
        Assert.Equal(2, entry.SampleStep);
    }

    [Fact]
    public void Entry_ForASessionWithNoTokensYet_IsItsOriginalPrefill()
    {
        var entry = SessionReplay.Entry(3, [1, 450], []);

        Assert.Equal([1, 450], entry.Tokens);
        Assert.Equal(0, entry.Start);
        Assert.Equal(0, entry.SampleStep);
    }

    [Fact]
    public void Entry_StepContinuesWhereTheDecodingLeftOff()
    {
        // Before the failure the driver would have sent token k at position prompt+k-1 sampling step k;
        // the replay ends at the same position and samples the same step.
        int[] prompt = [1, 2, 3, 4];
        var generated = Enumerable.Range(100, 10).ToList();

        var entry = SessionReplay.Entry(1, prompt, generated);

        Assert.Equal(prompt.Length + generated.Count, entry.Start + entry.Tokens.Count);
        Assert.Equal(generated.Count, entry.SampleStep);
    }

    [Theory]
    [InlineData(0, 3)]
    [InlineData(2, 3)]
    public void Refusal_BelowTheBound_IsNull(int done, int max) =>
        Assert.Null(SessionReplay.Refusal(done, max, positions: 40, contextLength: 512, reason: "stage died"));

    [Theory]
    [InlineData(3, 3)]
    [InlineData(0, 0)]
    public void Refusal_AtTheBound_SaysSoAndAsksForARetry(int done, int max)
    {
        var message = SessionReplay.Refusal(done, max, positions: 40, contextLength: 512, reason: "stage 1 died");

        Assert.NotNull(message);
        Assert.Contains("stage 1 died", message);
        Assert.Contains("retry the request", message);
    }

    [Fact]
    public void Refusal_WhenTheReplacementHoldsFewerPositions_NamesBoth()
    {
        var message = SessionReplay.Refusal(0, 3, positions: 600, contextLength: 512, reason: "x");

        Assert.NotNull(message);
        Assert.Contains("512", message);
        Assert.Contains("600", message);
    }
}
