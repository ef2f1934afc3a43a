using Tessera.Deploy;
using Tessera.Planner;

namespace Tessera.Deploy.Tests;

public sealed class RelayedLinksTests
{
    private const double Unreachable = LinkMonitor.UnreachableRttMs;
    private const string Coordinator = "coord";

    private static LinkInfo Link(string a, string b, double rtt, double bandwidth = 100e6) => new(a, b, rtt, 0, bandwidth);

    private static LinkInfo Find(IReadOnlyList<LinkInfo> links, string a, string b) => Assert.Single(links, l => l.Joins(a, b));

    [Fact]
    public void NoRelayedNode_LeavesTheLinksAsMeasured()
    {
        IReadOnlyList<LinkInfo> links = [Link(Coordinator, "a", 1), Link("a", "b", 2)];

        Assert.Same(links, RelayedLinks.Apply(links, new Dictionary<string, LinkInfo?>(), Coordinator, Unreachable));
    }

    [Fact]
    public void AHopIntoARelayedNode_CostsTheWayToTheCoordinatorPlusTheRelayedPath()
    {
        // a and b can be dialled; n cannot: its direct link from the coordinator failed, and n measured a fast direct
        // link to a itself (which a pipeline into n never crosses).
        IReadOnlyList<LinkInfo> links =
        [
            Link(Coordinator, "a", 1.5, 200e6), Link(Coordinator, "b", 4, 50e6), Link(Coordinator, "n", Unreachable, 0),
            Link("n", "a", 0.2, 900e6), Link("a", "b", 2),
        ];
        var relayed = new Dictionary<string, LinkInfo?> { ["n"] = Link(Coordinator, "n", 3, 100e6) };

        var result = RelayedLinks.Apply(links, relayed, Coordinator, Unreachable);

        Assert.Equal(2, Find(result, "a", "b").RttMs); // untouched
        Assert.Equal(3, Find(result, Coordinator, "n").RttMs); // the relayed path itself
        var an = Find(result, "a", "n");
        Assert.Equal(1.5 + 3, an.RttMs, 9); // not the 0.2 ms n measured directly
        Assert.Equal(100e6, an.BandwidthBytesPerSecond); // the slower of the two legs
        var bn = Find(result, "b", "n");
        Assert.Equal(4 + 3, bn.RttMs, 9);
        Assert.Equal(50e6, bn.BandwidthBytesPerSecond);
        Assert.Equal(6, result.Count);
    }

    [Fact]
    public void TwoRelayedNodes_AreJoinedThroughBothRelayedPaths()
    {
        IReadOnlyList<LinkInfo> links = [Link(Coordinator, "a", 1), Link(Coordinator, "m", Unreachable, 0), Link(Coordinator, "n", Unreachable, 0)];
        var relayed = new Dictionary<string, LinkInfo?> { ["m"] = Link(Coordinator, "m", 2), ["n"] = Link(Coordinator, "n", 5) };

        var result = RelayedLinks.Apply(links, relayed, Coordinator, Unreachable);

        Assert.Equal(7, Find(result, "m", "n").RttMs, 9);
        Assert.Equal(3, Find(result, "a", "m").RttMs, 9);
        Assert.Equal(6, Find(result, "a", "n").RttMs, 9);
    }

    [Fact]
    public void ARelayedNodeThatDoesNotAnswerThroughTheRelayEither_StaysUnusable()
    {
        IReadOnlyList<LinkInfo> links = [Link(Coordinator, "a", 1), Link(Coordinator, "n", Unreachable, 0), Link("n", "a", 0.2)];
        var relayed = new Dictionary<string, LinkInfo?> { ["n"] = null };

        var result = RelayedLinks.Apply(links, relayed, Coordinator, Unreachable);

        Assert.Equal(Unreachable, Find(result, Coordinator, "n").RttMs);
        Assert.Equal(Unreachable, Find(result, "a", "n").RttMs);
    }

    [Fact]
    public void UnmeasuredThroughput_IsNotTakenForTheSlowerLeg()
    {
        IReadOnlyList<LinkInfo> links = [Link(Coordinator, "a", 1, bandwidth: 0), Link(Coordinator, "n", Unreachable, 0)];
        var relayed = new Dictionary<string, LinkInfo?> { ["n"] = Link(Coordinator, "n", 2, 80e6) };

        var result = RelayedLinks.Apply(links, relayed, Coordinator, Unreachable);

        Assert.Equal(80e6, Find(result, "a", "n").BandwidthBytesPerSecond);
    }
}
