using Tessera.Deploy;

namespace Tessera.Deploy.Tests;

public sealed class LinkProbePolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static List<ProbeNode> Nodes(int count) => [.. Enumerable.Range(0, count).Select(i => new ProbeNode($"n{i:D4}", Targetable: true))];

    private static IEnumerable<(string From, string To)> Probes(Dictionary<string, List<string>> plan) =>
        plan.SelectMany(p => p.Value.Select(t => (p.Key, t)));

    [Fact]
    public void NodesWithNothingMeasured_AreMeasuredInTheFirstRound()
    {
        var plan = LinkProbePolicy.Choose(Nodes(5), [], new Dictionary<(string, string), DateTimeOffset>(), Now, round: 0, LinkProbeLimits.Default);

        var measured = Probes(plan).SelectMany(p => new[] { p.From, p.To }).ToHashSet();
        Assert.Equal(5, measured.Count);
        Assert.All(Probes(plan), p => Assert.NotEqual(p.From, p.To));
    }

    [Fact]
    public void StaleNeighbours_AreMeasuredEveryRound_FreshOnesAreNot()
    {
        var nodes = Nodes(10);
        var measured = new Dictionary<(string, string), DateTimeOffset>();
        // every pair was measured a second ago, except the pipeline's second hop, measured two minutes ago
        for (var i = 0; i < 10; i++)
            for (var j = i + 1; j < 10; j++)
                measured[LinkProbePolicy.Pair(nodes[i].Id, nodes[j].Id)] = Now.AddSeconds(-1);
        measured[LinkProbePolicy.Pair("n0003", "n0007")] = Now.AddMinutes(-2);

        var plan = LinkProbePolicy.Choose(nodes, [("n0001", "n0003"), ("n0003", "n0007")], measured, Now, round: 7, LinkProbeLimits.Default);

        var probe = Assert.Single(Probes(plan));
        Assert.Equal(("n0003", "n0007"), LinkProbePolicy.Pair(probe.From, probe.To));
    }

    [Fact]
    public void ANodeThatCannotBeDialled_MeasuresOthers_AndIsNeverATarget()
    {
        var nodes = new List<ProbeNode> { new("a", true), new("behind-nat", false), new("c", true) };

        var plan = LinkProbePolicy.Choose(nodes, [("a", "behind-nat"), ("behind-nat", "c")], new Dictionary<(string, string), DateTimeOffset>(), Now, 0, LinkProbeLimits.Default);

        Assert.DoesNotContain(Probes(plan), p => p.To == "behind-nat");
        Assert.Contains(("behind-nat", "a"), Probes(plan));
        Assert.Contains(("behind-nat", "c"), Probes(plan));
    }

    [Fact]
    public void AThousandNodes_EachMeasureAndAreMeasuredWithinTheBounds_AndEveryPairComesUpWithinTheCycle()
    {
        const int n = 1000;
        var nodes = Nodes(n);
        var limits = LinkProbeLimits.Default;
        var measured = new Dictionary<(string, string), DateTimeOffset>();
        var rounds = (n - 1 + limits.PerNodePerRound - 1) / limits.PerNodePerRound;
        var perRound = new List<int>();
        // A cycle of rounds with no time passing: a pair is measured once, then stays fresh.
        for (var round = 0; round < rounds + 1; round++)
        {
            var plan = LinkProbePolicy.Choose(nodes, [], measured, Now, round, limits);
            Assert.All(plan.Values, targets => Assert.InRange(targets.Count, 1, limits.PerNodePerRound));
            Assert.All(Probes(plan).GroupBy(p => p.To), g => Assert.InRange(g.Count(), 1, limits.IntoNodePerRound));
            foreach (var (from, to) in Probes(plan))
                Assert.True(measured.TryAdd(LinkProbePolicy.Pair(from, to), Now), $"{from}-{to} measured twice while fresh");
            perRound.Add(plan.Values.Sum(t => t.Count));
        }

        Assert.InRange(perRound.Max(), 1, n * limits.PerNodePerRound);
        // Some pairs lose their turn to the per-node bounds; nearly all are measured within one cycle.
        Assert.True(measured.Count >= n * (n - 1) / 2 * 0.95, $"{measured.Count} of {n * (n - 1) / 2} pairs in {rounds + 1} rounds");
    }

    [Fact]
    public void TheChoiceIsDeterministic()
    {
        var nodes = Nodes(40);
        var empty = new Dictionary<(string, string), DateTimeOffset>();

        var first = LinkProbePolicy.Choose(nodes, [("n0001", "n0002")], empty, Now, 3, LinkProbeLimits.Default);
        var second = LinkProbePolicy.Choose(nodes, [("n0001", "n0002")], empty, Now, 3, LinkProbeLimits.Default);

        Assert.Equal(Probes(first).OrderBy(p => p), Probes(second).OrderBy(p => p));
    }
}
