using Tessera.Api.Streaming;
using Tessera.Engine.Generation;
using Tessera.Generation;

namespace Tessera.Api.Tests.Unit;

public sealed class StopSequenceFilterTests
{
    private static GeneratedToken T(string text, int id = 1) => new(id, text, -0.5f, null);

    private static (string Text, int Tokens, bool Stopped) Run(IReadOnlyList<string> stops, params string[] pieces)
    {
        var filter = new StopSequenceFilter(stops);
        var text = "";
        var tokens = 0;
        foreach (var piece in pieces)
        {
            var release = filter.Push(T(piece));
            text += release.Text;
            tokens += release.Tokens.Count;
            if (filter.Stopped)
                return (text, tokens, true);
        }
        var rest = filter.Flush();
        return (text + rest.Text, tokens + rest.Tokens.Count, false);
    }

    [Fact]
    public void NoStops_ReleasesEveryTokenAtOnce()
    {
        var filter = new StopSequenceFilter([]);
        var release = filter.Push(T("Hello"));
        Assert.Equal("Hello", release.Text);
        Assert.Single(release.Tokens);
    }

    [Fact]
    public void StopInsideOneToken_CutsBeforeIt()
    {
        Assert.Equal(("Hello ", 1, true), Run(["END"], "Hello ENDING"));
    }

    [Fact]
    public void StopSplitAcrossTokens_IsNeverEmitted()
    {
        var filter = new StopSequenceFilter(["</s>"]);
        var first = filter.Push(T("Hi <"));
        Assert.Equal("Hi ", first.Text); // "<" is held: it may start "</s>"
        Assert.Empty(first.Tokens); // the token is not complete yet
        var second = filter.Push(T("/"));
        Assert.Equal("", second.Text);
        var third = filter.Push(T("s> more"));
        Assert.True(filter.Stopped);
        Assert.Equal("", third.Text);
        Assert.Single(third.Tokens); // only "Hi <" put text before the stop; "/" and "s> more" are all stop or after
    }

    [Fact]
    public void HeldTextThatDoesNotBecomeAStop_IsReleased()
    {
        var filter = new StopSequenceFilter(["STOP"]);
        Assert.Equal("a", filter.Push(T("aST")).Text);
        Assert.Equal("STx", filter.Push(T("x")).Text);
    }

    [Fact]
    public void HeldTextAtTheEnd_IsFlushed()
    {
        Assert.Equal(("abc ST", 2, false), Run(["STOP"], "abc ", "ST"));
    }

    [Fact]
    public void EarliestOfSeveralStops_Wins()
    {
        Assert.Equal(("one ", 1, true), Run(["three", "two"], "one two three"));
    }

    [Fact]
    public void StopAtTheVeryStart_EmitsNothing()
    {
        Assert.Equal(("", 0, true), Run(["\n"], "\nrest"));
    }

    [Fact]
    public void CharacterByCharacter_MatchesCuttingTheWholeText()
    {
        const string text = "The answer is 42.\n\nUser: and then?";
        var pieces = text.Select(c => c.ToString()).ToArray();
        var (cut, _, stopped) = Run(["\n\nUser:"], pieces);
        Assert.True(stopped);
        Assert.Equal("The answer is 42.", cut);
    }

    [Fact]
    public void OverlappingPrefixes_AreHeldCorrectly()
    {
        // "aab" must be found although "aa" was already a held prefix of "aab".
        Assert.Equal(("xa", 2, true), Run(["aab"], "x", "a", "a", "a", "b"));
    }

    [Fact]
    public void AfterAStop_LaterTokensAreIgnored()
    {
        var filter = new StopSequenceFilter(["!"]);
        filter.Push(T("hi!"));
        Assert.True(filter.Push(T("more")).IsEmpty);
        Assert.True(filter.Flush().IsEmpty);
    }
}
