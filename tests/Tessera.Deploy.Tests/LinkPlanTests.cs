using Tessera.Pool.State;

namespace Tessera.Deploy.Tests;

/// <summary>Deployments plan with the links the pool measured: a slow or unreachable link is not a hop of the plan.</summary>
public sealed class LinkPlanTests
{
    private static LinkRecord Link(DeployHarness pool, string a, string b, double rttMs, double jitterMs = 0.05, string? error = null) =>
        new(pool.Agents.Node(a).Id, pool.Agents.Node(b).Id, rttMs, jitterMs, 1000, pool.Clock.GetUtcNow()) { Error = error, Samples = error is null ? 20 : 0 };

    [Fact]
    public async Task TwoStagesOnThreeEqualNodes_AvoidTheSlowLinks_AndUseTheFastPair()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b", "c" })
            pool.Agents.Join(name);
        // a is 40 ms (with 20 ms of jitter) from both others; b and c are a LAN apart.
        pool.Events.UpsertLink(Link(pool, "a", "b", 40, 20));
        pool.Events.UpsertLink(Link(pool, "a", "c", 40, 20));
        pool.Events.UpsertLink(Link(pool, "b", "c", 0.3));

        var created = await pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2, MinStages: 2), default);

        Assert.Equal(["b", "c"], created.Stages.Select(s => s.NodeName).Order());
    }

    [Fact]
    public async Task ALinkJitteryInEveryMeasurement_IsAvoided_WhileOneLateEchoElsewhereIsNot()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b", "c", "d" })
            pool.Agents.Join(name);
        string Id(string name) => pool.Agents.Node(name).Id;
        var now = pool.Clock.GetUtcNow();
        void Measure(string a, string b, double jitter) =>
            pool.Links.Store(Id(a), Id(b), new Tessera.Serving.LinkMeasurement(0.5, 0.5 + jitter, jitter, 0, 1e8, 20), now);
        // Equal medians everywhere. c-d is jittery in each of three measurements (Wi-Fi); a-b had one late echo once.
        foreach (var round in new[] { 0, 1, 2 })
        {
            foreach (var (x, y) in new[] { ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d") })
                Measure(x, y, 0.2);
            Measure("c", "d", 20 + round);
            Measure("a", "b", round == 1 ? 30 : 0.2);
        }

        var planned = pool.Links.Snapshot();
        var created = await pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2, MinStages: 4), default);

        var order = created.Stages.Select(s => s.NodeName).ToList();
        Assert.Equal(4, order.Count);
        Assert.DoesNotContain(order.Zip(order.Skip(1)), hop => hop is ("c", "d") or ("d", "c"));
        Assert.Equal(20 - 0.2, planned.Single(l => l.Joins(Id("c"), Id("d"))).JitterP99Ms, 9);
        Assert.Equal(0, planned.Single(l => l.Joins(Id("a"), Id("b"))).JitterP99Ms);
    }

    [Fact]
    public async Task ALinksRoundTrip_IsTheSmallestOfItsRecentMedians_SoOneEchoQueuedOnABusyMachineDoesNotSteerThePlan()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b" })
            pool.Agents.Join(name);
        string Id(string name) => pool.Agents.Node(name).Id;
        var now = pool.Clock.GetUtcNow();
        void Measure(double rtt) => pool.Links.Store(Id("a"), Id("b"), new Tessera.Serving.LinkMeasurement(rtt, rtt + 0.2, 0.2, 0, 1e8, 20), now);

        Measure(0.5);
        Measure(4.5); // a busy moment: the latest figure, which `tessera links` shows
        Assert.Equal(0.5, pool.Links.Snapshot().Single().RttMs, 9);
        Assert.Equal(4.5, pool.Events.ListLinks().Single().RttMs, 9);

        // a real change (a longer route) is taken once it is in every remembered measurement
        Measure(3);
        Measure(3.2);
        Assert.Equal(3, pool.Links.Snapshot().Single().RttMs, 9);
    }

    [Fact]
    public async Task ALinkTheProbeCouldNotCross_IsNeverAHop()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b", "c", "d" })
            pool.Agents.Join(name);
        foreach (var (x, y) in new[] { ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d") })
            pool.Events.UpsertLink(Link(pool, x, y, 0.3));
        pool.Events.UpsertLink(Link(pool, "a", "b", 0, error: "did not answer the link probe within 5 s"));

        var created = await pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2, MinStages: 3), default);

        // No hop is a-b (the sampled token goes back over the same hops, so the way back does not cross it either).
        var order = created.Stages.Select(s => s.NodeName).ToList();
        Assert.InRange(order.Count, 3, 4);
        var hops = order.Zip(order.Skip(1));
        Assert.DoesNotContain(hops, hop => hop is ("a", "b") or ("b", "a"));
        Assert.Equal(LinkMonitor.UnreachableRttMs, pool.Links.Snapshot().Single(l => l.RttMs > 1).RttMs);
    }

    [Fact]
    public async Task AnAgentsReport_IsStoredOnlyForTheLinksThatAgentWasAskedToMeasure()
    {
        await using var pool = DeployHarness.Start();
        // One real probe on loopback stands for the three agents' probes: the coordinator measures each before it asks.
        await using var probe = await Tessera.Serving.LinkProbeServer.StartAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), pool.MemberTls("node_probe"));
        foreach (var name in new[] { "a", "b", "c" })
            pool.Agents.Join(name, probeEndpoint: probe.Endpoint.ToString());
        await using var monitor = pool.NewLinkMonitor(LinkMonitorOptions.Default with { Enabled = false });

        var round = monitor.RunRoundAsync(everything: true, CancellationToken.None);
        var asked = new List<(string Node, Tessera.Pool.Protocol.Command Command)>();
        for (var waited = 0; asked.Count < 3 && waited < 2000; waited++)
        {
            await Task.Delay(5);
            asked = [.. pool.Agents.Commands.Where(c => c.Command.KindCase == Tessera.Pool.Protocol.Command.KindOneofCase.MeasureLinks)];
        }
        Assert.Equal(3, asked.Count); // every pair of three, each measured by one end
        var (node, command) = asked[0];
        var target = Assert.Single(command.MeasureLinks.Targets).NodeId;
        var third = new[] { "node_a", "node_b", "node_c" }.Single(n => n != node && n != target);
        var report = new Tessera.Pool.Protocol.LinkReport { CommandId = command.CommandId };
        report.Results.Add(new Tessera.Pool.Protocol.LinkResult { NodeId = target, RttP50Ms = 1.5, RttP99Ms = 2, JitterMs = 0.5, Samples = 20, BandwidthBytesPerSecond = 1e8 });
        // a link it was not asked about, with a value that would make it the best in the pool
        report.Results.Add(new Tessera.Pool.Protocol.LinkResult { NodeId = third, RttP50Ms = 0.001, Samples = 20, BandwidthBytesPerSecond = 1e12 });

        monitor.OnLinkReport(third, report); // another node answering this command: ignored
        monitor.OnLinkReport(node, report);
        foreach (var (other, otherCommand) in asked.Skip(1))
            monitor.OnLinkReport(other, new Tessera.Pool.Protocol.LinkReport { CommandId = otherCommand.CommandId });
        var summary = await round.WaitAsync(TimeSpan.FromSeconds(20));

        // The coordinator's three measurements, and of the agents' only the one asked for.
        var links = pool.Events.ListLinks();
        Assert.Equal(3, links.Count(l => l.FromNodeId == Tessera.Pool.State.LinkRecord.Coordinator && l.Reachable));
        var stored = Assert.Single(links, l => l.FromNodeId != Tessera.Pool.State.LinkRecord.Coordinator);
        Assert.Equal((node, target, 1.5, 800.0), (stored.FromNodeId, stored.ToNodeId, stored.RttMs, stored.BandwidthMbps));
        Assert.Equal((6, 4, 0, 0), (summary.Asked, summary.Measured, summary.Unreachable, summary.NotAnswered));
    }
}
