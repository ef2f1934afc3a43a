using Tessera.Deploy;

namespace Tessera.Deploy.Tests;

public sealed class PlanningJitterTests
{
    private static Dictionary<string, IReadOnlyList<double>> Recent(params (string Link, double[] Values)[] links) =>
        links.ToDictionary(l => l.Link, l => (IReadOnlyList<double>)l.Values);

    [Fact]
    public void ALinkJitteryInEveryMeasurement_CountsItsExcessOverThePool()
    {
        var excess = PlanningJitter.Excess(Recent(("ab", [0.2, 0.3, 0.25]), ("bc", [0.3, 0.2, 0.2]), ("ac", [22, 18, 25])));

        Assert.Equal(18 - 0.2, excess["ac"], 9); // its steadiest figure, less the median of all (0.2)
        Assert.DoesNotContain("bc", excess.Keys);
    }

    [Fact]
    public void JitterEveryLinkShares_IsLeftOutOfPlacement_ButKeptAsWhatTheLinksSee()
    {
        var recent = Recent(("ab", [12, 10, 11]), ("bc", [10, 13, 10]), ("ac", [11, 10, 12]), ("cd", [40]));

        Assert.Empty(PlanningJitter.Excess(recent)); // nothing tells the links apart
        var steady = PlanningJitter.Steady(recent);
        Assert.Equal([10.0, 10.0, 10.0], [steady["ab"], steady["bc"], steady["ac"]]); // each link's steadiest figure
        Assert.DoesNotContain("cd", steady.Keys); // measured once: not yet
    }

    [Fact]
    public void OneLateEcho_DoesNotMakeAQuietLinkJittery()
    {
        // One measurement's p99 is its largest echo: a scheduling hiccup shows in one measurement only.
        var excess = PlanningJitter.Excess(Recent(("ab", [0.2, 31, 0.3]), ("bc", [0.3, 0.2, 0.2]), ("ac", [0.2, 0.2, 0.4])));

        Assert.Empty(excess);
    }

    [Fact]
    public void NoiseEveryLinkShares_CostsNothing()
    {
        // A busy machine: every loopback hop measures 8-26 ms of jitter.
        var excess = PlanningJitter.Excess(Recent(("ab", [8, 12, 26]), ("bc", [9, 11, 8]), ("ac", [10, 8, 14])));

        Assert.True(excess.Values.All(v => v <= 0.5), string.Join(", ", excess));
    }

    [Fact]
    public void ALinkMeasuredOnce_CountsNoJitterYet()
    {
        var excess = PlanningJitter.Excess(Recent(("ab", [0.2, 0.2]), ("ac", [40])));

        Assert.Empty(excess);
    }

    [Fact]
    public void OnlyTheLatestWindowCounts()
    {
        // Was jittery, has been quiet for the last three measurements.
        var excess = PlanningJitter.Excess(Recent(("ab", [0.2, 0.2]), ("bc", [0.1, 0.3]), ("ac", [30, 30, 30, 0.2, 0.3, 0.2])));

        Assert.Empty(excess);
    }
}
