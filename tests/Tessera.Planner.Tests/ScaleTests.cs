using System.Diagnostics;
using Xunit.Abstractions;
using static Tessera.Planner.Tests.Fixtures;

namespace Tessera.Planner.Tests;

/// <summary>Planning on synthetic pools of thousands of devices: fast, valid and the same every time.</summary>
public sealed class ScaleTests(ITestOutputHelper output)
{
    /// <summary>126 blocks of 3.2 GB (a 405B model in 8 bits): no device of the synthetic pools holds it alone.</summary>
    private static PlanRequest LargeRequest() =>
        Request(Model(layers: 126, layerMb: 3200, embeddingMb: 2000, headMb: 2000, kvWidth: 2048, vocab: 128000), context: 4096, sessions: 4, headroom: 0.1);

    [Theory]
    [InlineData(1, false)]
    [InlineData(4, false)]
    [InlineData(1, true)]
    public void Plan_TenThousandDevices_PlansWellWithinTheBound(int replicas, bool auto)
    {
        // arrange: 10,000 devices (CPUs and GPUs from 8 to 80 GB), links measured only between some pairs
        var cluster = SyntheticPool.Generate(10_000, seed: 7);
        var request = LargeRequest() with { Replicas = replicas, AutoReplicas = auto };

        // act: the second of two runs, the first having compiled the code
        var (plan, elapsed) = TimedPlan(request, cluster);

        // assert (loosely: tens of ms on a 2-core machine, so noise on a shared one never fails it)
        AssertValid(plan, cluster);
        if (!auto)
            Assert.Equal(replicas, plan.Pipelines.Count);
        output.WriteLine($"10,000 devices, replicas {(auto ? "auto" : replicas)}: {elapsed.TotalMilliseconds:0.0} ms");
        output.WriteLine(plan.Describe());
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"planning took {elapsed}");
    }

    private static (Plan Plan, TimeSpan Elapsed) TimedPlan(PlanRequest request, ClusterDescription cluster)
    {
        PoolPlanner.Plan(request, cluster);
        var start = Stopwatch.GetTimestamp();
        var result = PoolPlanner.Plan(request, cluster);
        var elapsed = Stopwatch.GetElapsedTime(start);
        Assert.True(result.Succeeded, result.Failure?.Message);
        return (result.Plan!, elapsed);
    }

    [Fact]
    public void SyntheticPool_SameSeed_GivesTheSamePool_AndExactlyTheDevicesAskedFor()
    {
        var a = SyntheticPool.Generate(3000, seed: 3);
        var b = SyntheticPool.Generate(3000, seed: 3);
        var c = SyntheticPool.Generate(3000, seed: 4);

        Assert.Equal(3000, a.Devices.Count);
        Assert.Equal(a.Devices, b.Devices);
        Assert.Equal(a.Links, b.Links);
        Assert.NotEqual(a.Devices, c.Devices);
        Assert.Equal(a.Devices.Count, a.Devices.Select(d => d.Id).Distinct().Count());
        Assert.Contains(a.Devices, d => d.Kind == DeviceKind.Gpu);
        // far fewer links than pairs of machines: the rest are unknown
        var nodes = a.Devices.Select(d => d.NodeId).Distinct().Count();
        Assert.InRange(a.Links.Count, nodes, 5 * nodes);
    }

    [Fact]
    public void Plan_OnASyntheticPool_IsTheSameEveryTime()
    {
        var cluster = SyntheticPool.Generate(2000, seed: 11);
        var request = LargeRequest() with { AutoReplicas = true, Explain = true };

        var first = PoolPlanner.Plan(request, cluster).GetPlanOrThrow();
        var second = PoolPlanner.Plan(request, cluster).GetPlanOrThrow();

        Assert.Equal(first.Describe(), second.Describe());
        Assert.Equal(first.Pipelines.Select(p => p.TokenLatencyP99Seconds), second.Pipelines.Select(p => p.TokenLatencyP99Seconds));
    }
}
