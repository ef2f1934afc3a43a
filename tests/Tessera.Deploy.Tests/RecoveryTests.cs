namespace Tessera.Deploy.Tests;

/// <summary>
/// A replica's pipeline breaks and calls the controller's recovery, as the driver does: the controller finds what
/// broke, re-plans around it and returns the pipeline to continue on.
/// </summary>
public sealed class RecoveryTests
{
    private static async Task<(DeployHarness Pool, DeploymentView View, FakePipeline Pipeline)> DeployedAsync()
    {
        var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b", "c", "spare" })
            pool.Agents.Join(name);
        var (view, pipeline) = await pool.DeployAsync(stages: 3);
        return (pool, view, pipeline);
    }

    /// <summary>The new plan covers the model without <paramref name="leftOut"/>, keeps every stage it could, and the pipeline runs on it.</summary>
    private static void AssertPlannedAround(DeployHarness pool, DeploymentView before, FakePipeline pipeline, string leftOut)
    {
        var after = pool.Controller.Find("m")!;
        Assert.DoesNotContain(after.Stages, s => s.NodeName == leftOut);
        Assert.Equal(0, after.Stages[0].FirstLayer);
        Assert.Equal(8, after.Stages[^1].LastLayer);
        Assert.All(after.Stages.Zip(after.Stages.Skip(1)), p => Assert.Equal(p.First.LastLayer, p.Second.FirstLayer));
        Assert.Equal(after.Stages.Select(s => s.Endpoint), pipeline.Endpoints);
        for (var i = 0; i < Math.Min(before.Stages.Count, after.Stages.Count); i++)
        {
            // a stage that kept its place and work kept running: not restarted
            if ((before.Stages[i].NodeName, before.Stages[i].FirstLayer, before.Stages[i].LastLayer) == (after.Stages[i].NodeName, after.Stages[i].FirstLayer, after.Stages[i].LastLayer))
                Assert.Equal(before.Stages[i].Endpoint, after.Stages[i].Endpoint);
        }
        Assert.Equal(after.Stages.Select(s => s.NodeName), Assert.Single(pool.Store.List()).Stages.Select(s => s.NodeName));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task LossOfAStagesNode_TheSpareTakesItsLayers_TheOtherStagesKeepRunning_AndThePipelineGoesOn(int lost)
    {
        var (pool, view, pipeline) = await DeployedAsync();
        await using var _ = pool;
        var victim = view.Stages[lost];

        pool.Agents.Lose(victim.NodeName);
        var recovered = await pool.DriveAsync(pipeline.BreakAsync("the stage went away", victim.Endpoint));

        Assert.True(recovered);
        Assert.Single(pipeline.Failures);
        AssertPlannedAround(pool, view, pipeline, victim.NodeName);
        Assert.Empty(pool.Agents.Starts(victim.NodeName).Skip(1)); // nothing more was sent to the lost node
        Assert.Contains($"stage {lost} ({DeploymentWords.Layers(victim.FirstLayer, victim.LastLayer)}) lost with node {victim.NodeName}",
            Assert.Single(pool.EventsOf("deployment-recovered")));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task AStageTheCoordinatorCannotReach_WhileItsAgentStaysConnected_IsPlannedAroundOnTheFirstTry(int cut)
    {
        // Before: recovery found no lost node, "restarted" the stages (all running), returned the same endpoints, and
        // the pipeline failed to open them three times: clients saw 503.
        var (pool, view, pipeline) = await DeployedAsync();
        await using var _ = pool;
        var victim = view.Stages[cut];

        pool.Network.Cut(victim.Endpoint!);
        var recovered = await pool.DriveAsync(pipeline.BreakAsync("the stage does not answer", victim.Endpoint));

        Assert.True(recovered);
        Assert.Single(pipeline.Failures);
        Assert.DoesNotContain(victim.Endpoint, pipeline.Endpoints);
        AssertPlannedAround(pool, view, pipeline, victim.NodeName);
        Assert.True(pool.Agents.Node(victim.NodeName).Connected);
        Assert.Single(pool.Agents.Stops(victim.NodeName)); // its agent is told to stop the stage nobody can reach
        Assert.Contains(victim.Endpoint!, pool.Network.Probes);
        var unreachable = Assert.Single(pool.EventsOf("stage-unreachable"));
        Assert.Contains($"on {victim.NodeName} at {victim.Endpoint} does not answer the coordinator", unreachable);
        Assert.Single(pool.EventsOf("deployment-recovered"));
    }

    [Fact]
    public async Task AStalledStage_WhoseAgentStaysConnected_IsPlannedAroundAtOnce_WithoutAnotherProbe()
    {
        // a black-holed stage port: the driver saw no progress and no answer; the node's control stream is fine, so the
        // membership never reports it lost, and every stage "runs": without the stall rule, the recovery probed it,
        // waited for a loss that never came, and probed again before leaving the node out
        var (pool, view, pipeline) = await DeployedAsync();
        await using var _ = pool;
        var victim = view.Stages[1];

        var recovered = await pool.DriveAsync(pipeline.BreakAsync("stage 1 stalled", victim.Endpoint, stalled: true));

        Assert.True(recovered);
        Assert.Single(pipeline.Failures);
        Assert.DoesNotContain(victim.Endpoint, pipeline.Endpoints);
        AssertPlannedAround(pool, view, pipeline, victim.NodeName);
        Assert.Empty(pool.Network.Probes);
        Assert.Contains($"on {victim.NodeName} at {victim.Endpoint} stopped making progress", Assert.Single(pool.EventsOf("stage-stalled")));
        Assert.Empty(pool.EventsOf("link-cut"));
    }

    [Fact]
    public async Task AStalledStageWhoseNodeIsAlreadyLost_IsReplacedAsALoss()
    {
        var (pool, view, pipeline) = await DeployedAsync();
        await using var _ = pool;
        var victim = view.Stages[2];

        pool.Agents.Lose(victim.NodeName);
        var recovered = await pool.DriveAsync(pipeline.BreakAsync("stage 2 stalled", victim.Endpoint, stalled: true));

        Assert.True(recovered);
        AssertPlannedAround(pool, view, pipeline, victim.NodeName);
        Assert.Empty(pool.EventsOf("stage-stalled"));
        Assert.Contains("lost with node " + victim.NodeName, Assert.Single(pool.EventsOf("deployment-recovered")));
    }

    [Fact]
    public async Task AStageItsUpstreamCannotReach_ButTheCoordinatorCan_IsACutLink_AndItsNodeIsLeftOut()
    {
        var (pool, view, pipeline) = await DeployedAsync();
        await using var _ = pool;
        var far = view.Stages[1];

        var recovered = await pool.DriveAsync(pipeline.BreakAsync("stage 1 cannot be reached from stage 0", far.Endpoint));

        Assert.True(recovered);
        AssertPlannedAround(pool, view, pipeline, far.NodeName);
        Assert.Contains($"the link from node {view.Stages[0].NodeName} to node {far.NodeName} is cut", Assert.Single(pool.EventsOf("link-cut")));
        Assert.Empty(pool.EventsOf("stage-unreachable"));
    }

    [Fact]
    public async Task ALossWithNoNodeToTakeItsLayers_FailsEachTry_AndThePipelineGivesUp_KeepingThePlan()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("a");
        var (view, pipeline) = await pool.DeployAsync(stages: 1);
        var victim = view.Stages[0];

        pool.Agents.Lose(victim.NodeName);
        var recovered = await pool.DriveAsync(pipeline.BreakAsync("the stage went away", victim.Endpoint));

        // no node is left to hold the model: every try fails with the reason, and the pipeline gives up
        Assert.False(recovered);
        Assert.Equal(FakePipeline.MaxReplaceAttempts, pipeline.Failures.Count);
        Assert.Equal(FakePipeline.MaxReplaceAttempts, pool.EventsOf("deployment-recovery-failed").Count);
        Assert.Contains("cannot hold the model without the lost node", pool.EventsOf("deployment-recovery-failed")[0]);
        Assert.Equal(view.Stages.Select(s => s.NodeName), pool.Controller.Find("m")!.Stages.Select(s => s.NodeName));
    }

    [Fact]
    public async Task ALostNodeThatReturns_GetsItsStageAgain_AndTheReplicaReconnects()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("a");
        var (view, pipeline) = await pool.DeployAsync(stages: 1);
        var victim = view.Stages[0];

        // the pipeline gives up (no other node); the reconcile loop drops it and waits for the node
        pool.Agents.Lose(victim.NodeName);
        Assert.False(await pool.DriveAsync(pipeline.BreakAsync("the stage went away", victim.Endpoint)));
        await pool.UntilAsync(() => pool.Controller.Router.Replicas("m").Count == 0, "the broken pipeline dropped");
        Assert.True(pipeline.Disposed);

        pool.Agents.Return(victim.NodeName);
        await pool.UntilAsync(() => pool.Controller.Router.Replicas("m").Count == 1, "the replica reconnected");

        Assert.Equal(2, pool.Agents.Starts(victim.NodeName).Count);
        Assert.Equal(DeploymentStates.Ready, pool.Controller.Find("m")!.State);
    }
}
