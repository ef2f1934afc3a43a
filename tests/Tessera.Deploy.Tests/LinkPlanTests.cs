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
    public async Task ALinkTheProbeCouldNotCross_IsNeverAHop()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b", "c", "d" })
            pool.Agents.Join(name);
        foreach (var (x, y) in new[] { ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d") })
            pool.Events.UpsertLink(Link(pool, x, y, 0.3));
        pool.Events.UpsertLink(Link(pool, "a", "b", 0, error: "did not answer the link probe within 5 s"));

        var created = await pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2, MinStages: 3), default);

        // The stages form a ring (the sampled token goes back to the first): no hop of it, the way back included, is a-b.
        var order = created.Stages.Select(s => s.NodeName).ToList();
        Assert.InRange(order.Count, 3, 4);
        var hops = order.Zip(order.Skip(1).Append(order[0]));
        Assert.DoesNotContain(hops, hop => hop is ("a", "b") or ("b", "a"));
        Assert.Equal(LinkMonitor.UnreachableRttMs, pool.Links.Snapshot().Single(l => l.RttMs > 1).RttMs);
    }
}
