using static Tessera.Planner.Tests.Fixtures;

namespace Tessera.Planner.Tests;

/// <summary>The number of replicas chosen by the planner (<c>--replicas auto</c>).</summary>
public sealed class AutoReplicaTests(Xunit.Abstractions.ITestOutputHelper output)
{
    // 3.2 GB model: every device below holds it alone
    private static PlanRequest Auto() => Request(Model(kvWidth: 0)) with { AutoReplicas = true };

    [Fact]
    public void AutoReplicas_EqualDevices_OneReplicaOnEach()
    {
        var cluster = Cluster(Device("a", 4, 100), Device("b", 4, 100), Device("c", 4, 100));

        var plan = PlanOrFail(Auto(), cluster);

        Assert.Equal(3, plan.Pipelines.Count);
        Assert.All(plan.Pipelines, p => Assert.Single(p.Stages));
        Assert.Equal(3 * plan.Pipelines[0].MaxThroughputTokensPerSecond, plan.MaxThroughputTokensPerSecond, 9);
        Assert.Contains("3 replicas of 1 stage", plan.Explanation);
        Assert.Contains("would not fit", plan.Explanation);
        AssertValid(plan, cluster);
    }

    [Fact]
    public void AutoReplicas_AReplicaUnderTheSingleStreamFloor_IsNotAdded()
    {
        // c decodes at half the speed of a and b: under 0.8x, so two replicas; with a floor of 0.4, three
        var cluster = Cluster(Device("a", 4, 100), Device("b", 4, 100), Device("c", 4, 50));

        var strict = PlanOrFail(Auto(), cluster);
        var lenient = PlanOrFail(Auto(), cluster, NoScratch with { AutoReplicaMinSingleStream = 0.4 });

        Assert.Equal(["a", "b"], strict.Pipelines.Select(p => p.Stages[0].DeviceId).Order());
        Assert.Contains("under 80 %", strict.Explanation);
        Assert.Equal(3, lenient.Pipelines.Count);
    }

    [Fact]
    public void AutoReplicas_StopsAtTheCap()
    {
        var cluster = Cluster(Enumerable.Range(0, 6).Select(i => Device($"d{i}", 4, 100)).ToArray());

        var plan = PlanOrFail(Auto(), cluster, NoScratch with { MaxAutoReplicas = 2 });

        Assert.Equal(2, plan.Pipelines.Count);
        Assert.Contains("cap of 2", plan.Explanation);
    }

    [Fact]
    public void AutoReplicas_LeanReplicasBeatTheFastestPipeline_WhenTheyServeMore()
    {
        // arrange: machine a has d2, which holds the model alone (16 ms a token), and d1, a small fast GPU that speeds
        // it up to 13.05 ms (76.6 tokens/s, paced by d2's 20 layers: 100 saturated); machine b's d3 and d4 together
        // are slower than 0.8x that. Lean replicas, d2 alone (62.5 tokens/s, 0.82x) and d1 with b's faster d4 over a
        // 0.2 ms link, serve 162.5 tokens/s.
        var cluster = Cluster(Device("d0", 1, 150, node: "b"), Device("d1", 1.2, 400, node: "a", kind: DeviceKind.Gpu), Device("d2", 3.5, 200, node: "a"),
            Device("d3", 2, 100, node: "b"), Device("d4", 2, 200, node: "b")) with
        {
            Links = [new LinkInfo("a", "b", 0.2, 0, 1e8)],
        };
        var one = PlanOrFail(Request(Model(kvWidth: 0)), cluster);

        var plan = PlanOrFail(Auto(), cluster);
        output.WriteLine(plan.Describe());

        // assert
        Assert.Equal(["d1", "d2"], one.Stages.Select(s => s.DeviceId));
        Assert.Equal(2, plan.Pipelines.Count);
        Assert.Equal(["d2"], plan.Pipelines[0].Stages.Select(s => s.DeviceId));
        Assert.Equal(["d1", "d4"], plan.Pipelines[1].Stages.Select(s => s.DeviceId));
        Assert.Equal(162.5, plan.MaxThroughputTokensPerSecond, 1);
        Assert.Contains("2 replicas of 1-2 stages: 162.5 tokens/s saturated against 100.0 for one pipeline of 2 stages; single-stream 62.5 vs 76.6", plan.Explanation);
        AssertValid(plan, cluster);
    }

    [Fact]
    public void AutoReplicas_NothingFits_FailsAsOneReplicaWould()
    {
        var cluster = Cluster(Device("a", 1, 100));

        var result = PoolPlanner.Plan(Auto(), cluster, NoScratch);

        Assert.False(result.Succeeded);
        Assert.Contains("missing", result.Failure!.Message);
    }

    [Fact]
    public void AutoReplicas_Explained_ListsOneFewerAndTheRejectedNext()
    {
        var cluster = Cluster(Device("a", 4, 100), Device("b", 4, 100), Device("c", 4, 50));

        var plan = PlanOrFail(Auto() with { Explain = true }, cluster);

        var fewer = Assert.Single(plan.Alternatives, a => a.Reason == AlternativeReason.FewerReplicas);
        Assert.Equal(1, fewer.Replicas);
        Assert.Equal(plan.MaxThroughputTokensPerSecond / 2, fewer.MaxThroughputTokensPerSecond!.Value, 6);
        var next = Assert.Single(plan.Alternatives, a => a.Reason == AlternativeReason.SingleStreamTooSlow);
        Assert.Equal(3, next.Replicas);
        Assert.Equal(plan.SingleStreamTokensPerSecond / 2, next.SingleStreamTokensPerSecond!.Value, 6);
    }
}
