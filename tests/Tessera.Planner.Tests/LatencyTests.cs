using static Tessera.Planner.Tests.Fixtures;

namespace Tessera.Planner.Tests;

/// <summary>p50 and p99 time per token from the links' jitter and the stages' compute tail.</summary>
public sealed class LatencyTests
{
    /// <summary>Compute taken as constant: what the links' jitter alone does.</summary>
    private static readonly PlannerOptions Steady = NoScratch with { CpuComputeTailP99 = 1, GpuComputeTailP99 = 1 };

    /// <summary>The standard normal's 99th percentile.</summary>
    private const double Z99 = 2.3263478740408408;

    /// <summary>
    /// Four machines in a chain m0-m1-m2-m3, a quarter of the model on each (placed so: the planner would avoid the
    /// jittery links); <paramref name="jitterMs"/> gives each link's p99 jitter. Compute is constant.
    /// </summary>
    private static Plan Chain(params double[] jitterMs) => Chain(Steady, jitterMs);

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
    public void TokenLatency_WithoutJitterOrComputeTail_P50AndP99AreTheTokenTime()
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
            return PoolPlanner.Place(Request(Model(kvWidth: 0)), Cluster(devices) with { Links = links, CoordinatorNodeId = "m0" }, stages, Steady).Plan!;
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
        var plan = Chain(NoScratch with { LatencySamples = 0 }, 10, 10, 10); // compute tails too: no draws at all

        Assert.Equal(Still(), plan.Pipelines[0].TokenLatencyP50Seconds, 12);
        Assert.Equal(Still(), plan.Pipelines[0].TokenLatencyP99Seconds, 12);
    }

    /// <summary>The whole model on one device of <paramref name="kind"/>: no link, so only the compute tail spreads the time per token.</summary>
    private static PipelinePlan Alone(PlannerOptions options, DeviceKind kind = DeviceKind.Cpu) =>
        PlanOrFail(Request(Model(kvWidth: 0)), Cluster(Device("a", 4, 100, kind: kind)), options).Pipelines[0];

    [Fact]
    public void TokenLatency_OneStage_P99IsItsComputeTimesTheTail_AndP50ItsCompute()
    {
        // 32 blocks of 100 MB at 100 GB/s: 32 ms a token, the median of a log-normal whose p99 is 1.3 times it
        var p = Alone(Steady with { CpuComputeTailP99 = 1.3 });

        Assert.Equal(0.032, p.TokenSeconds, 12);
        Assert.Equal(0.032 * 1.3, p.TokenLatencyP99Seconds, 0.032 * 0.005);
        Assert.Equal(0.032, p.TokenLatencyP50Seconds, 0.032 * 0.002);
    }

    [Fact]
    public void TokenLatency_ComputeTailOfOne_WithoutJitter_P99EqualsP50()
    {
        var tail = Alone(Steady with { CpuComputeTailP99 = 1.3 });
        var none = Alone(Steady);

        Assert.True(tail.TokenLatencyP99Seconds > tail.TokenLatencyP50Seconds);
        Assert.Equal(none.TokenSeconds, none.TokenLatencyP50Seconds, 12);
        Assert.Equal(none.TokenSeconds, none.TokenLatencyP99Seconds, 12);
    }

    [Fact]
    public void TokenLatency_AGpuStage_TakesTheGpuTail()
    {
        var p = Alone(Steady with { CpuComputeTailP99 = 3, GpuComputeTailP99 = 1.1 }, DeviceKind.Gpu);

        Assert.Equal(p.TokenSeconds * 1.1, p.TokenLatencyP99Seconds, p.TokenSeconds * 0.005);
    }

    [Fact]
    public void TokenLatency_FourStages_ComputeTailsAddAsIndependentDraws_FarBelowFourTimesOnes()
    {
        // Four stages of 8 ms (8 blocks of 100 MB at 100 GB/s), links without jitter, tail 1.2 each: the sum of four
        // log-normals (sigma = ln 1.2 / z99), by Fenton-Wilkinson a log-normal of the same mean and variance.
        var p = Chain(Steady with { CpuComputeTailP99 = 1.2 }, 0, 0, 0).Pipelines[0];
        var c = p.Stages[0].ComputeSeconds;
        var hops = p.TokenSeconds - 4 * c;
        var sigma = Math.Log(1.2) / Z99;
        var mean = 4 * c * Math.Exp(sigma * sigma / 2);
        var variance = 4 * c * c * Math.Exp(sigma * sigma) * (Math.Exp(sigma * sigma) - 1);
        var sumSigma = Math.Sqrt(Math.Log(1 + variance / (mean * mean)));
        var sumMu = Math.Log(mean) - sumSigma * sumSigma / 2;

        Assert.Equal(0.008, c, 12);
        Assert.Equal(hops + Math.Exp(sumMu + Z99 * sumSigma), p.TokenLatencyP99Seconds, 4 * c * 0.003); // 4.393 c
        var excess = p.TokenLatencyP99Seconds - p.TokenSeconds;
        Assert.InRange(excess, 0.2 * c, 4 * 0.2 * c * 0.6); // above one stage's 0.2 c, well below four times it (0.39 c)
        Assert.Equal(p.TokenSeconds, p.TokenLatencyP50Seconds, p.TokenSeconds * 0.005); // the median moves by 0.2 %
    }

    [Fact]
    public void TokenLatency_ComputeTail_IsTheSameForASeed_AndMovesWithTheSeed()
    {
        var options = Steady with { CpuComputeTailP99 = 1.2 };

        var first = Chain(options, 0, 0, 0).Pipelines[0].TokenLatencyP99Seconds;
        var again = Chain(options, 0, 0, 0).Pipelines[0].TokenLatencyP99Seconds;
        var otherSeed = Chain(options with { LatencySeed = 42 }, 0, 0, 0).Pipelines[0].TokenLatencyP99Seconds;

        Assert.Equal(first, again);
        Assert.NotEqual(first, otherSeed);
        Assert.Equal(first, otherSeed, first * 0.01); // another draw of the same distribution
    }

    [Fact]
    public void TokenLatency_JitterAndComputeTail_TogetherExceedEitherAlone()
    {
        var both = Chain(NoScratch with { CpuComputeTailP99 = 1.2 }, 10, 10, 10).Pipelines[0];
        var jitterOnly = Chain(10, 10, 10).Pipelines[0];
        var tailOnly = Chain(NoScratch with { CpuComputeTailP99 = 1.2 }, 0, 0, 0).Pipelines[0];

        Assert.True(both.TokenLatencyP99Seconds > jitterOnly.TokenLatencyP99Seconds);
        Assert.True(both.TokenLatencyP99Seconds - Still() > tailOnly.TokenLatencyP99Seconds - Still());
        // independent spreads: less than the two excesses added
        Assert.True(both.TokenLatencyP99Seconds - Still() < jitterOnly.TokenLatencyP99Seconds - Still() + tailOnly.TokenLatencyP99Seconds - Still());
    }
}
