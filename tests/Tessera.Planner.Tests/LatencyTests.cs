using static Tessera.Planner.Tests.Fixtures;

namespace Tessera.Planner.Tests;

/// <summary>p50 and p99 time per token from the links' jitter.</summary>
public sealed class LatencyTests
{
    /// <summary>
    /// Four machines in a chain m0-m1-m2-m3, a quarter of the model on each (placed so: the planner would avoid the
    /// jittery links); <paramref name="jitterMs"/> gives each link's p99 jitter.
    /// </summary>
    private static Plan Chain(params double[] jitterMs) => Chain(NoScratch, jitterMs);

    private static Plan Chain(PlannerOptions options, params double[] jitterMs)
    {
        var devices = Enumerable.Range(0, 4).Select(i => Device($"d{i}", 0.9, 100, node: $"m{i}")).ToArray();
        var links = Enumerable.Range(0, 3).Select(i => new LinkInfo($"m{i}", $"m{i + 1}", 1, jitterMs[i], 1e9)).ToArray();
        var cluster = Cluster(devices) with { Links = links, CoordinatorNodeId = "m0" };
        var stages = Enumerable.Range(0, 4).Select(i => new StagePlacement($"d{i}", new LayerSpan(8 * i, 8 * i + 8))).ToArray();
        var result = PoolPlanner.Place(Request(Model(kvWidth: 0)), cluster, stages, options);
        Assert.True(result.Succeeded, result.Failure?.Message);
        return result.Plan!;
    }

    /// <summary>The time per token without any jitter: compute plus half the RTT and the transfer of every crossing.</summary>
    private static double Still() => Chain(0, 0, 0).Pipelines[0].TokenSeconds;

    [Fact]
    public void TokenLatency_WithoutJitter_P50AndP99AreTheTokenTime()
    {
        var p = Chain(0, 0, 0).Pipelines[0];

        Assert.Equal(p.TokenSeconds, p.TokenLatencyP50Seconds, 12);
        Assert.Equal(p.TokenSeconds, p.TokenLatencyP99Seconds, 12);
    }

    [Fact]
    public void TokenLatency_DrawsFromTheMeasuredJitter_WhenThePlanningFigureLeavesItOut()
    {
        // Every link equally jittery: the coordinator plans with the excess over the pool's common jitter (none), but
        // the tokens still see all of it: the latency draws take the measured figure.
        var devices = Enumerable.Range(0, 4).Select(i => Device($"d{i}", 0.9, 100, node: $"m{i}")).ToArray();
        Plan Place(double? measured)
        {
            var links = Enumerable.Range(0, 3).Select(i => new LinkInfo($"m{i}", $"m{i + 1}", 1, 0, 1e9, measured)).ToArray();
            var stages = Enumerable.Range(0, 4).Select(i => new StagePlacement($"d{i}", new LayerSpan(8 * i, 8 * i + 8))).ToArray();
            return PoolPlanner.Place(Request(Model(kvWidth: 0)), Cluster(devices) with { Links = links, CoordinatorNodeId = "m0" }, stages, NoScratch).Plan!;
        }

        var uniform = Place(measured: 10).Pipelines[0];
        var planned = Chain(10, 10, 10).Pipelines[0];

        Assert.Equal(Still(), uniform.TokenSeconds, 12); // what placement weighs: no jitter
        Assert.Equal(planned.TokenLatencyP99Seconds, uniform.TokenLatencyP99Seconds, 12); // what the tokens see: all of it
        Assert.True(uniform.TokenLatencyP99Seconds > uniform.TokenLatencyP50Seconds);
        Assert.Equal(Place(measured: null).Pipelines[0].TokenSeconds, Place(measured: null).Pipelines[0].TokenLatencyP99Seconds, 12);
    }

    [Fact]
    public void TokenLatency_IsTheSameEveryTime()
    {
        Assert.Equal(Chain(10, 10, 10).Pipelines[0].TokenLatencyP99Seconds, Chain(10, 10, 10).Pipelines[0].TokenLatencyP99Seconds);
    }

    [Fact]
    public void TokenLatency_SeveralJitteryHops_P99IsBelowTheSumOfTheirP99s_AndAboveOneHops()
    {
        var plan = Chain(10, 10, 10);
        var p = plan.Pipelines[0];
        var still = Still();

        // six crossings (three forward, three back), each with a p99 of 5 ms over the still time
        Assert.True(p.TokenLatencyP99Seconds < still + 6 * 0.005, $"p99 {p.TokenLatencyP99Seconds} not below the sum of the crossings' p99s");
        Assert.Equal(still + 6 * 0.005, p.TokenSeconds, 9); // the decode prediction adds them all: the pessimistic bound
        Assert.True(p.TokenLatencyP99Seconds > still + 0.005, "p99 must exceed one crossing's");
        Assert.True(p.TokenLatencyP50Seconds < p.TokenLatencyP99Seconds);
    }

    [Fact]
    public void TokenLatency_OneJitteryHop_DominatesAsTheSumOfItsTwoCrossings()
    {
        // one link of 20 ms p99 jitter: its two crossings are exponentials of mean 10 ms / ln 100 each, whose sum (a
        // gamma of shape 2) has its median at 1.678 and its 99th percentile at 6.638 means
        var plan = Chain(0, 20, 0);
        var p = plan.Pipelines[0];
        var mean = 0.010 / Math.Log(100);

        Assert.Equal(6.638, (p.TokenLatencyP99Seconds - Still()) / mean, 0.25);
        Assert.Equal(1.678, (p.TokenLatencyP50Seconds - Still()) / mean, 0.1);
    }

    [Fact]
    public void TokenLatency_WithDrawsTurnedOff_IsTheTimeWithEveryLinkAtItsMedian()
    {
        var plan = Chain(NoScratch with { LatencySamples = 0 }, 10, 10, 10);

        Assert.Equal(Still(), plan.Pipelines[0].TokenLatencyP50Seconds, 12);
        Assert.Equal(Still(), plan.Pipelines[0].TokenLatencyP99Seconds, 12);
    }
}
