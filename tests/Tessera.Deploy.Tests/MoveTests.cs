namespace Tessera.Deploy.Tests;

/// <summary>Planned moves: off a drained node, and onto a better plan (with the hysteresis that keeps plans from flapping).</summary>
public sealed class MoveTests
{
    [Fact]
    public async Task DrainingAStagesNode_StartsItsReplacementFirst_MovesThePipeline_ThenStopsTheOldStage()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b", "c", "spare" })
            pool.Agents.Join(name);
        var (view, pipeline) = await pool.DeployAsync(stages: 3);
        var drained = view.Stages[1];

        pool.Agents.Drain(drained.NodeName);
        await pool.UntilAsync(() => pool.EventsOf("node-drained").Count == 1, "the drain");

        var after = pool.Controller.Find("m")!;
        Assert.DoesNotContain(after.Stages, s => s.NodeName == drained.NodeName);
        Assert.Equal(after.Stages.Select(s => s.Endpoint), pipeline.Endpoints);
        Assert.Equal(1, pipeline.RecoveryStatistics.Moves); // a planned switch, not a failure
        Assert.Empty(pipeline.Failures);
        Assert.Single(pool.Agents.Stops(drained.NodeName));
        Assert.Empty(pool.Agents.Running(drained.NodeName));
        Assert.Contains($"drained node {drained.NodeName}", pool.EventsOf("node-drained")[0]);
    }

    [Fact]
    public async Task DrainingWithNoRoomElsewhere_KeepsServingOnTheDrainedNode_AndSaysWhy()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("a");
        var (view, pipeline) = await pool.DeployAsync(stages: 1);

        pool.Agents.Drain(view.Stages[0].NodeName);
        await pool.UntilAsync(() => pool.EventsOf("drain-failed").Count == 1, "the failed drain");

        Assert.Equal(view.Stages.Select(s => s.Endpoint), pipeline.Endpoints);
        Assert.Equal(view.Stages.Select(s => s.NodeName), pool.Controller.Find("m")!.Stages.Select(s => s.NodeName));
        Assert.Empty(pool.Agents.Stops(view.Stages[0].NodeName));
        Assert.Contains("Its stages keep serving meanwhile", pool.EventsOf("drain-failed")[0]);
    }

    [Fact]
    public async Task AFasterNodeJoining_ImprovesThePlanAfterItSettles_ButNotAgainWithinTheInterval()
    {
        // A slow node (10 MB/s) holds the whole model; nodes 100x and 10,000x faster join one after the other.
        await using var pool = DeployHarness.Start(DeploymentControllerOptions.Default with { ImproveInterval = TimeSpan.FromSeconds(60) });
        pool.Agents.Join("slow", speedGBps: 0.01);
        var (view, pipeline) = await pool.DeployAsync(stages: 1);

        // the periodic check finds nothing better on an unchanged pool
        await pool.PassAsync(TimeSpan.FromSeconds(65));
        Assert.Empty(pool.EventsOf("plan-improved"));

        // a fast node joins: once it has settled, the plan moves onto it, new stage first, without a failure
        pool.Agents.Join("fast", speedGBps: 1);
        await pool.UntilAsync(() => pool.EventsOf("plan-improved").Count == 1, "the first improvement");
        Assert.Equal(["fast"], pool.Controller.Find("m")!.Stages.Select(s => s.NodeName));
        Assert.Contains("node fast joined", pool.EventsOf("plan-improved")[0]);
        Assert.Equal(pool.Controller.Find("m")!.Stages.Select(s => s.Endpoint), pipeline.Endpoints);
        Assert.Equal(1, pipeline.RecoveryStatistics.Moves);
        Assert.Empty(pipeline.Failures);
        Assert.Single(pool.Agents.Stops("slow"));

        // a faster node joins at once: the plan just changed, so it stays for the interval (the hysteresis)...
        pool.Agents.Join("faster", speedGBps: 100);
        await pool.PassAsync(TimeSpan.FromSeconds(40));
        Assert.Single(pool.EventsOf("plan-improved"));
        Assert.Equal(["fast"], pool.Controller.Find("m")!.Stages.Select(s => s.NodeName));

        // ...and moves once the interval has passed since the last change
        await pool.UntilAsync(() => pool.EventsOf("plan-improved").Count == 2, "the second improvement");
        Assert.Equal(["faster"], pool.Controller.Find("m")!.Stages.Select(s => s.NodeName));
        Assert.Equal(2, pipeline.RecoveryStatistics.Moves);
    }

    [Fact]
    public async Task ANodeOnlyALittleFaster_IsNotWorthAMove()
    {
        await using var pool = DeployHarness.Start(DeploymentControllerOptions.Default with { ImproveInterval = TimeSpan.FromSeconds(10) });
        pool.Agents.Join("slow", speedGBps: 0.01);
        var (view, _) = await pool.DeployAsync(stages: 1);

        pool.Agents.Join("bit-faster", speedGBps: 0.0125); // 25% faster: below the 35% a move of the whole model needs
        await pool.PassAsync(TimeSpan.FromSeconds(40));

        Assert.Empty(pool.EventsOf("plan-improved"));
        Assert.Equal(view.Stages.Select(s => s.NodeName), pool.Controller.Find("m")!.Stages.Select(s => s.NodeName));
    }
}
