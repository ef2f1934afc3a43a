using System.Diagnostics;
using Tessera.Deploy;
using Xunit.Abstractions;

namespace Tessera.Deploy.Tests;

public sealed class LinkProbePolicyTests(ITestOutputHelper output)
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
    public void TheChoiceIsDeterministic()
    {
        var nodes = Nodes(40);
        var empty = new Dictionary<(string, string), DateTimeOffset>();

        var first = LinkProbePolicy.Choose(nodes, [("n0001", "n0002")], empty, Now, 3, LinkProbeLimits.Default);
        var second = LinkProbePolicy.Choose(nodes, [("n0001", "n0002")], empty, Now, 3, LinkProbeLimits.Default);

        Assert.Equal(Probes(first).OrderBy(p => p), Probes(second).OrderBy(p => p));
    }

    /// <summary>
    /// The cost the docs state (docs/pool.md, Links): probes per round and per node, and rounds until every pair was
    /// measured once; within the per-node bounds, and every pair measured within a cycle of the rotation.
    /// </summary>
    [Theory]
    [InlineData(10)]
    [InlineData(100)]
    [InlineData(1000)]
    public void ProbeCost_PerRoundAndPerNode_StaysWithinTheLimits(int n)
    {
        var nodes = Nodes(n);
        var limits = LinkProbeLimits.Default;
        var measured = new Dictionary<(string, string), DateTimeOffset>();
        var pairs = n * (n - 1) / 2;
        var perRound = new List<int>();
        var clock = Stopwatch.StartNew();
        var round = 0;
        for (; measured.Count < pairs && round < 3 * n; round++)
        {
            var plan = LinkProbePolicy.Choose(nodes, [], measured, Now, round, limits);
            Assert.All(plan.Values, t => Assert.True(t.Count <= limits.PerNodePerRound));
            Assert.All(Probes(plan).GroupBy(p => p.To), g => Assert.True(g.Count() <= limits.IntoNodePerRound));
            // A round with no time passing: a pair measured once stays fresh and must not come up again.
            foreach (var (from, to) in Probes(plan))
                Assert.True(measured.TryAdd(LinkProbePolicy.Pair(from, to), Now), $"{from}-{to} measured twice while fresh");
            perRound.Add(plan.Values.Sum(t => t.Count));
        }
        var perChoice = clock.Elapsed / round;
        output.WriteLine($"{n} nodes: {pairs} pairs, all measured in {round} rounds; probes per round median {perRound.Order().ElementAt(perRound.Count / 2)}, max {perRound.Max()}; Choose took {perChoice.TotalMilliseconds:F2} ms per round");
        Assert.Equal(pairs, measured.Count);
        Assert.True(round <= 2 * ((n - 1 + limits.PerNodePerRound - 1) / limits.PerNodePerRound) + 2, $"{round} rounds");
    }
}
