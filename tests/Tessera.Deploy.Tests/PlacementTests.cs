using Tessera.Pool.State;

namespace Tessera.Deploy.Tests;

/// <summary>
/// A split the user gives (<c>deploy --placement</c>) and a plan that ignores the measured links
/// (<c>deploy --ignore-links</c>): the two comparisons the planner is measured against.
/// </summary>
public sealed class PlacementTests
{
    [Fact]
    public async Task APlacement_StartsTheStagesWhereItSays_AndSaysWhatThePlannerWouldHaveDone()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("a", speedGBps: 50);
        pool.Agents.Join("b", speedGBps: 5);
        pool.Agents.Join("c", speedGBps: 5);

        // act: the slow nodes, in an order of the user's choosing (c by its id)
        var created = await pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2,
            Placement: $"{pool.Agents.Node("c").Id}:0-2, b:2-8"), default);
        await pool.UntilAsync(() => pool.Controller.Find("m")?.State == DeploymentStates.Ready, "the deployment ready");

        // assert: the stages as given, on their agents; the planner's own choice (the fast node alone) beside it
        Assert.Equal([("c", 0, 2), ("b", 2, 8)], created.Stages.Select(s => (s.NodeName, s.FirstLayer, s.LastLayer)));
        Assert.Single(pool.Agents.Starts("c"));
        Assert.Single(pool.Agents.Starts("b"));
        Assert.Empty(pool.Agents.Starts("a"));
        Assert.StartsWith("Placed as asked: c layers 0-2, b layers 2-8", created.Explanation);
        Assert.Contains("The planner's own plan (a layers 0-8)", created.Explanation);
    }

    [Fact]
    public async Task APlacement_IsNotImprovedAway()
    {
        await using var pool = DeployHarness.Start(DeploymentControllerOptions.Default with { ImproveInterval = TimeSpan.FromSeconds(10) });
        pool.Agents.Join("slow", speedGBps: 0.01);
        await pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2, Placement: "slow:0-8"), default);
        await pool.UntilAsync(() => pool.Controller.Find("m")?.State == DeploymentStates.Ready, "the deployment ready");

        // a node 100x faster joins: a planned deployment would move onto it within the interval (MoveTests)
        pool.Agents.Join("fast", speedGBps: 1);
        await pool.PassAsync(TimeSpan.FromSeconds(40));

        Assert.Empty(pool.EventsOf("plan-improved"));
        Assert.Equal(["slow"], pool.Controller.Find("m")!.Stages.Select(s => s.NodeName));
    }

    public static TheoryData<DeploymentRequest, string> Refused => new()
    {
        { new DeploymentRequest(DeployHarness.Model, Placement: "z:0-8"), "No node is named 'z'" },
        { new DeploymentRequest(DeployHarness.Model, Placement: "a:0-4,b:5-8"), "leaves layers 4-5 to no stage" },
        { new DeploymentRequest(DeployHarness.Model, Placement: "a:0-4,b"), "'b' in the placement is not NODE:FIRST-LAST" },
        { new DeploymentRequest(DeployHarness.Model, Placement: "a:0-4,b:4-8", Replicas: 2), "leave out replicas and min_stages" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task ABadPlacement_IsRefusedWithTheReason_AndNothingStarts(DeploymentRequest request, string expected)
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("a");
        pool.Agents.Join("b");

        var error = await Assert.ThrowsAsync<DeploymentException>(() => pool.Controller.CreateAsync(request, default));

        Assert.Contains(expected, error.Message);
        Assert.Empty(pool.Controller.List());
        Assert.Empty(pool.Agents.Starts("a"));
    }

    [Fact]
    public void APlacement_IsReadAsNodeAndLayers_TheNodeMayHoldColons()
    {
        var stages = DeploymentRequestRules.ParsePlacement(" host:7470:0-11 ,agent-b:11-22");

        Assert.Equal([new RequestedStage("host:7470", 0, 11), new RequestedStage("agent-b", 11, 22)], stages);
        foreach (var bad in new[] { "a:0-", "a:-4", "a:4-4", "a:5-4", ":0-4", "a:0-4,", "a:x-4", "a:+1-4" })
            Assert.Throws<DeploymentException>(() => DeploymentRequestRules.ParsePlacement(bad));
    }

    [Fact]
    public async Task IgnoringLinks_PlansAsIfNoneWereMeasured()
    {
        // a is 40 ms (with 20 ms of jitter) from both others; b and c are a LAN apart
        await using var measured = DeployHarness.Start();
        await using var unmeasured = DeployHarness.Start();
        foreach (var pool in new[] { measured, unmeasured })
        {
            foreach (var name in new[] { "a", "b", "c" })
                pool.Agents.Join(name);
        }
        foreach (var (x, y, rtt, jitter) in new[] { ("a", "b", 40.0, 20.0), ("a", "c", 40.0, 20.0), ("b", "c", 0.3, 0.05) })
            measured.Events.UpsertLink(new LinkRecord(measured.Agents.Node(x).Id, measured.Agents.Node(y).Id, rtt, jitter, 1000, measured.Clock.GetUtcNow()) { Samples = 20 });

        var planned = await measured.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "planned", Context: 512, MaxSessions: 2, MinStages: 2), default);
        var ignoring = await measured.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "ignoring", Context: 512, MaxSessions: 2, MinStages: 2, IgnoreLinks: true), default);
        var blind = await unmeasured.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "blind", Context: 512, MaxSessions: 2, MinStages: 2), default);

        // the measured plan avoids a; ignoring the links gives what a pool with no measurements plans, which uses a
        Assert.Equal(["b", "c"], planned.Stages.Select(s => s.NodeName).Order());
        Assert.Equal(blind.Stages.Select(s => (s.NodeName, s.FirstLayer, s.LastLayer)), ignoring.Stages.Select(s => (s.NodeName, s.FirstLayer, s.LastLayer)));
        Assert.Contains("a", ignoring.Stages.Select(s => s.NodeName));
    }
}
