using Xunit.Abstractions;
using static Tessera.Planner.Tests.Fixtures;

namespace Tessera.Planner.Tests;

/// <summary>The plans <c>--explain</c> lists beside the chosen one, on small pools whose answers are worked out by hand.</summary>
public sealed class AlternativeTests(ITestOutputHelper output)
{
    [Fact]
    public void Alternatives_FastDeviceTooSmall_SaysItDoesNotFit_AndTheSlowAloneIsSlower()
    {
        // arrange: the chosen plan fills the fast device (9 layers) and gives the rest to the slow one
        var cluster = Cluster(Device("fast", 1.0, 400), Device("slow", 4, 100));

        var plan = PlanOrFail(Request(Model(), context: 16) with { Explain = true }, cluster);
        output.WriteLine(plan.Describe());

        // assert: the fastest device alone does not fit, with the figures
        var fastest = plan.Alternatives[0];
        Assert.Equal(AlternativeReason.DoesNotFit, fastest.Reason);
        Assert.Contains("fast", fastest.Description);
        Assert.Contains("needs 3.2 GB", fastest.Why);
        Assert.Contains("has 1.0 GB", fastest.Why);
        Assert.Null(fastest.SingleStreamTokensPerSecond);
        // one stage fewer is the slow device alone: 3.2 GB (and a little KV cache) at 100 GB/s, 31.25 tokens/s
        var fewer = Assert.Single(plan.Alternatives, a => a.Description.Contains("one fewer"));
        Assert.Equal(AlternativeReason.Slower, fewer.Reason);
        Assert.Equal(1, fewer.Stages);
        Assert.InRange(fewer.SingleStreamTokensPerSecond!.Value, 31.2, 31.25);
        Assert.True(fewer.SingleStreamTokensPerSecond < plan.SingleStreamTokensPerSecond);
        // the even split (16 and 16) does not fit the fast device
        var even = Assert.Single(plan.Alternatives, a => a.Description.Contains("even split"));
        Assert.Equal(AlternativeReason.DoesNotFit, even.Reason);
        Assert.Contains("fast", even.Why);
        // two devices only: no plan of one more stage
        Assert.DoesNotContain(plan.Alternatives, a => a.Description.Contains("one more"));
    }

    [Fact]
    public void Alternatives_EvenSplitOverUnequalDevices_IsSlower_AndPacedByTheSlowDevice()
    {
        // two devices with room for all, one twice as fast: the planner splits about 2:1 (MinStages 2); even is paced by the slow
        var cluster = Cluster(Device("a", 4, 200, node: "m"), Device("b", 4, 100, node: "m"));

        var plan = PlanOrFail(Request(Model(kvWidth: 0)) with { MinStages = 2, Explain = true }, cluster);

        var even = Assert.Single(plan.Alternatives, a => a.Description.Contains("even split"));
        Assert.Equal(AlternativeReason.Slower, even.Reason); // 8 + 16 ms against about 21.5 ms a token
        // 16 layers of 100 MB at 100 GB/s: 16 ms a token at the slow stage
        Assert.Equal(1 / 0.016, even.MaxThroughputTokensPerSecond!.Value, 6);
        Assert.True(even.MaxThroughputTokensPerSecond < plan.MaxThroughputTokensPerSecond);
    }

    [Fact]
    public void Alternatives_OneMoreStage_CostsAHop()
    {
        // the model fits on a alone; a second stage on another machine only adds a hop (equal speeds)
        var cluster = Cluster(Device("a", 4, 100), Device("b", 4, 100));

        var plan = PlanOrFail(Request(Model(kvWidth: 0)) with { Explain = true }, cluster);

        Assert.Single(plan.Stages);
        var more = Assert.Single(plan.Alternatives, a => a.Description.Contains("one more"));
        Assert.Equal(AlternativeReason.MoreHops, more.Reason);
        Assert.Equal(2, more.Stages);
        Assert.True(more.SingleStreamTokensPerSecond < plan.SingleStreamTokensPerSecond);
    }

    [Fact]
    public void Alternatives_ThePlanThatIgnoresJitter_CrossesTheJitteryLink()
    {
        // arrange: a needs a partner; a-b is the lower RTT but jittery (30 ms p99), a-c a little slower and steady
        var cluster = Cluster(Device("a", 2, 100), Device("b", 2, 100), Device("c", 2, 100)) with
        {
            CoordinatorNodeId = "node-a",
            Links = [new LinkInfo("node-a", "node-b", 0.5, 30, 1e9), new LinkInfo("node-a", "node-c", 1.0, 0, 1e9), new LinkInfo("node-b", "node-c", 50, 0, 1e9)],
        };

        var plan = PlanOrFail(Request(Model(kvWidth: 0)) with { Explain = true }, cluster);
        output.WriteLine(plan.Describe());

        Assert.Equal(["a", "c"], plan.Stages.Select(s => s.DeviceId));
        var jittery = Assert.Single(plan.Alternatives, a => a.Reason == AlternativeReason.CrossesJitteryLink);
        Assert.Contains("node-a-node-b", jittery.Why);
        Assert.True(jittery.TokenLatencyP99Seconds > plan.Pipelines[0].TokenLatencyP99Seconds);
    }

    [Fact]
    public void Alternatives_AreBoundedAndTheSameEveryTime()
    {
        var cluster = SyntheticPool.Generate(500, seed: 5);
        var request = Request(Model(layers: 80, layerMb: 1000, kvWidth: 1024), context: 4096, sessions: 2, headroom: 0.1) with { Explain = true };

        var a = PoolPlanner.Plan(request, cluster).GetPlanOrThrow();
        var b = PoolPlanner.Plan(request, cluster).GetPlanOrThrow();
        output.WriteLine(a.Describe());

        Assert.InRange(a.Alternatives.Count, 1, 8);
        Assert.Equal(a.Alternatives, b.Alternatives);
        Assert.All(a.Alternatives, alt => Assert.False(string.IsNullOrWhiteSpace(alt.Why)));
        Assert.All(a.Alternatives.Where(alt => alt.Reason != AlternativeReason.DoesNotFit), alt => Assert.NotNull(alt.SingleStreamTokensPerSecond));
    }

    [Fact]
    public void Alternatives_AreEmptyUnlessAskedFor()
    {
        var plan = PlanOrFail(Request(Model(), context: 16), Cluster(Device("fast", 1.0, 400), Device("slow", 4, 100)));

        Assert.Empty(plan.Alternatives);
    }
}
