using System.Diagnostics;
using Tessera.Planner;
using Xunit.Abstractions;
using static Tessera.Planner.Tests.Fixtures;

namespace Tessera.Planner.Tests;

public sealed class PlanTests(ITestOutputHelper output)
{
    [Fact]
    public void Plan_ModelFitsOnOneDevice_UsesOneStageOnTheFastest()
    {
        // arrange: 3.2 GB model; two devices have room, the faster one should win; c is small and no faster
        var cluster = Cluster(Device("a", 8, 50), Device("b", 8, 100), Device("c", 2, 100));

        // act
        var plan = PlanOrFail(Request(Model()), cluster);

        // assert
        var stage = Assert.Single(plan.Stages);
        Assert.Equal("b", stage.DeviceId);
        Assert.Equal(new LayerSpan(0, 32), stage.Layers);
        Assert.Equal(0, stage.HopSeconds);
        Assert.Equal(plan.SingleStreamTokensPerSecond, plan.MaxThroughputTokensPerSecond, 6);
        AssertValid(plan, cluster);
        output.WriteLine(plan.Describe());
    }

    [Fact]
    public void Plan_FastDeviceWithoutRoomForAll_TakesLayersWhenThatIsFaster()
    {
        // b alone: 32 ms per token; b plus the 4x faster c (room for 19 layers) is faster despite the hop
        var cluster = Cluster(Device("b", 8, 100), Device("c", 2, 400));

        var plan = PlanOrFail(Request(Model()), cluster);

        Assert.Equal(2, plan.Stages.Count);
        Assert.True(plan.SingleStreamTokensPerSecond > 1 / 0.032);
        AssertValid(plan, cluster);
    }

    [Fact]
    public void Plan_SingleStageSpeed_IsBytesReadOverBandwidth()
    {
        var model = Model(layers: 10, layerMb: 100, kvWidth: 0);
        var plan = PlanOrFail(Request(model), Cluster(Device("a", 4, 100)));

        // 1 GB read per token at 100 GB/s: 10 ms, 100 tokens/s
        Assert.Equal(100, plan.SingleStreamTokensPerSecond, 6);
    }

    [Fact]
    public void Plan_TheHeadsBytes_CountOverTheHeadSpeedFactor()
    {
        // 10 layers of 100 MB and a 1000 MB head at 100 GB/s: 20 ms a token; a head that streams 4x faster: 12.5 ms
        var model = Model(layers: 10, layerMb: 100, headMb: 1000, kvWidth: 0);
        var cluster = Cluster(Device("a", 8, 100));

        var plain = PlanOrFail(Request(model), cluster);
        var learned = PlanOrFail(Request(model), cluster, NoScratch with { HeadSpeedFactor = 4 });

        Assert.Equal(50, plain.SingleStreamTokensPerSecond, 6);
        Assert.Equal(80, learned.SingleStreamTokensPerSecond, 6);
        Assert.Equal(1250e6, PoolPlanner.StageReadBytes(Request(model), new LayerSpan(0, 10), NoScratch with { HeadSpeedFactor = 4 }), 6);
        Assert.Equal(100e6, PoolPlanner.StageReadBytes(Request(model), new LayerSpan(0, 1), NoScratch with { HeadSpeedFactor = 4 }), 6);
    }

    [Fact]
    public void Plan_TooBigForOneDevice_SplitsInProportionToSpeed()
    {
        // arrange: 3.2 GB; each device holds 3 GB, so neither alone; the fast one is twice as fast
        var cluster = Cluster(Device("fast", 3, 200), Device("slow", 3, 100));

        // act
        var plan = PlanOrFail(Request(Model()), cluster);

        // assert
        Assert.Equal(2, plan.Stages.Count);
        var fast = plan.Stages.Single(s => s.DeviceId == "fast").Layers.Count;
        var slow = plan.Stages.Single(s => s.DeviceId == "slow").Layers.Count;
        Assert.Equal(32, fast + slow);
        var ratio = (double)fast / slow;
        Assert.InRange(ratio, 1.7, 2.3);
        AssertValid(plan, cluster);
        output.WriteLine(plan.Describe());
    }

    [Fact]
    public void Plan_WhenMemoryCapsTheFastDevice_FillsItAndGivesTheRestToTheSlow()
    {
        // the fast device would deserve 2/3 of the layers but only has room for 10
        var cluster = Cluster(Device("fast", 1.0, 400), Device("slow", 4, 100));

        var plan = PlanOrFail(Request(Model(), context: 16), cluster);

        Assert.Equal(2, plan.Stages.Count);
        Assert.Equal(9, plan.Stages.Single(s => s.DeviceId == "fast").Layers.Count); // 9 x 100 MB + KV < 1 GB < 10 x 100 MB
        AssertValid(plan, cluster);
    }

    [Fact]
    public void Plan_RespectsMemoryIncludingKvCacheForContextTimesSessions()
    {
        // arrange: 1.6 GB of weights; KV is 2 x 1024 x 4 = 8 KB per token per layer
        var model = Model(layers: 16, layerMb: 100, kvWidth: 1024);
        var cluster = Cluster(Device("a", 3, 100), Device("b", 3, 100), Device("c", 3, 100));

        // act: 4096 tokens x 1 session = 33.6 MB per layer (0.5 GB in all) fits one device; x 8 sessions (4.3 GB) does not
        var one = PlanOrFail(Request(model, context: 4096, sessions: 1), cluster);
        var eight = PlanOrFail(Request(model, context: 4096, sessions: 8), cluster);

        // assert
        Assert.Single(one.Stages);
        Assert.Equal(16L * 8192 * 4096, one.Stages[0].KvBytes);
        Assert.True(eight.Stages.Count >= 2, eight.Describe());
        foreach (var s in eight.Stages)
        {
            Assert.Equal(s.Layers.Count * 8192L * 4096 * 8, s.KvBytes);
            Assert.True(s.WeightBytes + s.KvBytes <= 3 * GB);
        }
        AssertValid(eight, cluster);
    }

    [Fact]
    public void Plan_KeepsTheHeadroomFree()
    {
        var cluster = Cluster(Device("a", 3.4, 100), Device("b", 3.4, 50));
        var model = Model(kvWidth: 0); // 3.2 GB

        var tight = PlanOrFail(Request(model, headroom: 0), cluster);
        var roomy = PlanOrFail(Request(model, headroom: 0.10), cluster);

        Assert.Single(tight.Stages);
        Assert.Equal(2, roomy.Stages.Count); // 3.4 GB less 10% = 3.06 GB < 3.2 GB
        Assert.All(roomy.Stages, s => Assert.True(s.MemoryBytes <= (long)(3.4 * GB * 0.9)));
    }

    [Fact]
    public void Plan_ModelLargerThanPool_IsRefusedWithTheMissingAmount()
    {
        // arrange: 142 layers x 100 MB = 14.2 GB, no KV; the pool has 2 x 5.5 GB = 11.0 GB
        var model = Model(layers: 142, layerMb: 100, kvWidth: 0);
        var cluster = Cluster(Device("a", 5.5, 100), Device("b", 5.5, 100));

        // act
        var result = PoolPlanner.Plan(Request(model), cluster, NoScratch);

        // assert
        Assert.False(result.Succeeded);
        var failure = result.Failure!;
        Assert.Equal((long)(14.2 * GB), failure.RequiredBytes);
        Assert.Equal(11 * GB, failure.AvailableBytes);
        Assert.Equal((long)(3.2 * GB), failure.MissingBytes);
        Assert.Contains("needs 14.2 GB, the pool has 11.0 GB free: missing 3.2 GB; add a node or lower --context/--max-sessions", failure.Message);
        Assert.Throws<PlanFailedException>(() => result.GetPlanOrThrow());
        output.WriteLine(failure.Message);
    }

    [Fact]
    public void Plan_LayerLargerThanAnyDevice_NamesTheLayerAndTheDevice()
    {
        // 4 x 1.5 GB layers: 6 GB fits the pool's 8 GB in total, but no device takes a single layer
        var model = Model(layers: 4, layerMb: 1500, kvWidth: 0);
        var cluster = Cluster(Device("a", 1, 100), Device("b", 1, 100), Device("c", 1, 100), Device("d", 1, 100),
            Device("e", 1, 100), Device("f", 1, 100), Device("g", 1, 100), Device("h", 1, 100));

        var result = PoolPlanner.Plan(Request(model), cluster, NoScratch);

        Assert.False(result.Succeeded);
        var shortfall = result.Failure!.Shortfalls[0];
        Assert.Equal(1500 * MB, shortfall.NeededBytes);
        Assert.Equal(500 * MB, shortfall.MissingBytes);
        Assert.Equal("a", shortfall.DeviceId);
        Assert.Contains("cannot be split", result.Failure.Message);
        Assert.Contains("missing 500.0 MB", result.Failure.Message);
        output.WriteLine(result.Failure.Message);
    }

    [Fact]
    public void Plan_NoUsableDevice_IsRefused()
    {
        var cluster = Cluster(Device("a", 8, 100)) with { NodeStates = new Dictionary<string, NodeStatus> { ["node-a"] = NodeStatus.Lost } };

        var result = PoolPlanner.Plan(Request(Model()), cluster, NoScratch);

        Assert.False(result.Succeeded);
        Assert.Contains("no usable device", result.Failure!.Message);
    }

    [Fact]
    public void Plan_SameInput_GivesTheSamePlan_WhateverTheDeviceOrder()
    {
        // arrange: equal devices, so only tie-breaking decides
        var devices = Enumerable.Range(0, 12).Select(i => Device($"d{i:00}", 1.2, 100, node: $"n{i % 4}")).ToArray();
        var request = Request(Model());

        // act
        var first = PlanOrFail(request, Cluster(devices)).Describe();
        var again = PlanOrFail(request, Cluster(devices)).Describe();
        var reversed = PlanOrFail(request, Cluster(devices.Reverse().ToArray())).Describe();

        // assert
        Assert.Equal(first, again);
        Assert.Equal(first, reversed);
        output.WriteLine(first);
    }

    [Fact]
    public void Plan_HeterogeneousDevices_GivesTheGpuAsMuchAsItHolds()
    {
        // arrange: 80 layers x 500 MB = 40 GB; a 24 GB GPU at 900 GB/s, a 64 GB CPU at 50 GB/s, a small laptop
        var model = Model(layers: 80, layerMb: 500, embeddingMb: 250, headMb: 250, vocab: 32000);
        var cluster = Cluster(
            Device("gpu0", 24, 900, node: "desktop", kind: DeviceKind.Gpu),
            Device("cpu0", 64, 50, node: "desktop"),
            Device("laptop", 8, 40, node: "laptop"));

        // act
        var plan = PlanOrFail(Request(model, context: 2048, sessions: 2, headroom: 0.1), cluster, PlannerOptions.Default);

        // assert: both desktop devices, GPU first or last but holding most layers it can
        Assert.Equal(2, plan.Stages.Count);
        Assert.All(plan.Stages, s => Assert.Equal("desktop", s.NodeId));
        var gpu = plan.Stages.Single(s => s.DeviceId == "gpu0");
        Assert.True(gpu.Layers.Count >= 38, plan.Describe());
        Assert.True(gpu.MemoryBytes > 0.9 * gpu.AvailableBytes, "the GPU should be nearly full");
        AssertValid(plan, cluster);
        output.WriteLine(plan.Describe());
    }

    [Fact]
    public void Plan_FasterComputeBoundDevice_IsLimitedByItsFlops()
    {
        // bandwidth says 1000 GB/s but only 1 GFLOP/s: FLOPs dominate
        var slowFlops = new DeviceInfo("a", "n", "n", DeviceKind.Gpu, 8 * GB, 1000, FlopsPerSecond: 1e9);
        var plan = PlanOrFail(Request(Model(layers: 10, layerMb: 100, kvWidth: 0)), Cluster(slowFlops));

        // 10 layers x 2 x 100 M FLOPs = 2 GFLOPs per token
        Assert.Equal(0.5, plan.SingleStreamTokensPerSecond, 6);
    }

    [Fact]
    public void Plan_PrefersTheCoordinatorsNodeForTheFirstStage()
    {
        var cluster = Cluster(Device("a", 2, 100), Device("b", 2, 100)) with { CoordinatorNodeId = "node-b" };

        var plan = PlanOrFail(Request(Model()), cluster);

        Assert.Equal("b", plan.Stages[0].DeviceId);
    }

    /// <summary>Three equal nodes, the coordinator on a: a-c and c-b are 0.5 ms links, a-b is 40 ms.</summary>
    private static ClusterDescription ThreeNodesJoinedThroughC() =>
        Cluster(Device("a", 1.2, 100), Device("b", 1.2, 100), Device("c", 1.2, 100)) with
        {
            CoordinatorNodeId = "node-a",
            Links =
            [
                new LinkInfo("node-a", "node-b", 40, 10, 1e6),
                new LinkInfo("node-a", "node-c", 0.5, 0.1, 1e9),
                new LinkInfo("node-c", "node-b", 0.5, 0.1, 1e9),
            ],
        };

    [Fact]
    public void Plan_OrdersStagesAlongTheCheapestLinks()
    {
        // arrange: three nodes; a-c and c-b are fast, a-b is slow: a, c, b beats a, b, c
        var cluster = ThreeNodesJoinedThroughC();

        var plan = PlanOrFail(Request(Model()), cluster);

        Assert.Equal(["a", "c", "b"], plan.Stages.Select(s => s.DeviceId));
    }

    [Fact]
    public void Plan_TheSampledTokenGoesBackThroughEveryStage_NotStraightFromTheLastToTheFirst()
    {
        // arrange: a-c and c-b are 0.5 ms links; a-b is 40 ms. The pipeline runs a, c, b; the protocol has no b -> a
        // connection: b's token goes back on the lanes, b -> c -> a.
        var cluster = ThreeNodesJoinedThroughC();

        var plan = PlanOrFail(Request(Model()), cluster);

        // assert: the last stage's hop is two 0.3 ms one-way crossings (half of RTT plus jitter) and 4 bytes each, not 25 ms
        var stages = Assert.Single(plan.Pipelines).Stages;
        Assert.Equal(["a", "c", "b"], stages.Select(s => s.DeviceId));
        Assert.Equal(2 * (0.0003 + 4 / 1e9), stages[^1].HopSeconds, 9);
        Assert.Equal(0.0003 + Model().ActivationBytesPerToken(2) / 1e9, stages[0].HopSeconds, 6);
    }

    [Fact]
    public void Plan_NeverUsesExcludedDrainingOrLostDevices()
    {
        var cluster = Cluster(Device("a", 8, 300), Device("b", 8, 200), Device("c", 8, 150), Device("d", 8, 100)) with
        {
            NodeStates = new Dictionary<string, NodeStatus> { ["node-b"] = NodeStatus.Draining, ["node-c"] = NodeStatus.Lost },
        };
        var request = Request(Model()) with { ExcludedDevices = ["a"] };

        var plan = PlanOrFail(request, cluster);

        Assert.Equal("d", Assert.Single(plan.Stages).DeviceId);
    }

    [Fact]
    public void Plan_PreferredDevices_AreUsedWhenTheyHoldTheModel()
    {
        var cluster = Cluster(Device("a", 8, 300), Device("b", 8, 100));

        var plan = PlanOrFail(Request(Model()) with { PreferredDevices = ["b"] }, cluster);

        Assert.Equal("b", Assert.Single(plan.Stages).DeviceId);
    }

    [Fact]
    public void Plan_Replicas_UseDisjointDevices()
    {
        var cluster = Cluster(Device("a", 4, 100), Device("b", 2, 100), Device("c", 2, 100));

        var plan = PlanOrFail(Request(Model()) with { Replicas = 2 }, cluster);

        Assert.Equal(2, plan.Pipelines.Count);
        Assert.Single(plan.Pipelines[0].Stages);
        Assert.Equal(2, plan.Pipelines[1].Stages.Count);
        Assert.Equal(plan.Pipelines.Sum(p => p.MaxThroughputTokensPerSecond), plan.MaxThroughputTokensPerSecond, 6);
        AssertValid(plan, cluster);
    }

    [Fact]
    public void Plan_TooManyReplicas_IsRefusedNamingTheReplica()
    {
        var cluster = Cluster(Device("a", 4, 100), Device("b", 4, 100));

        var result = PoolPlanner.Plan(Request(Model()) with { Replicas = 3 }, cluster, NoScratch);

        Assert.False(result.Succeeded);
        Assert.StartsWith("Replica 3 of 3", result.Failure!.Message);
    }

    [Fact]
    public void Plan_InvalidRequest_Throws()
    {
        Assert.Throws<ArgumentException>(() => PoolPlanner.Plan(Request(Model(), context: 0), Cluster(Device("a", 8, 100))));
        Assert.Throws<ArgumentException>(() => PoolPlanner.Plan(Request(Model()) with { MemoryHeadroomFraction = 1 }, Cluster(Device("a", 8, 100))));
    }

    [Fact]
    public void Plan_ThousandDeviceCluster_PlansQuickly()
    {
        // arrange: 1,000 devices on 250 nodes with 2-16 GB and 20-900 GB/s; a 40 GB, 80-layer model
        var devices = new List<DeviceInfo>();
        var seed = 12345u;
        uint Next() => seed = seed * 1664525 + 1013904223;
        for (var i = 0; i < 1000; i++)
        {
            var gpu = Next() % 4 == 0;
            devices.Add(new DeviceInfo($"dev{i:0000}", $"node{i / 4:000}", $"node{i / 4:000}", gpu ? DeviceKind.Gpu : DeviceKind.Cpu,
                (2 + Next() % 15) * GB, gpu ? 300 + Next() % 600 : 20 + Next() % 60));
        }
        var links = Enumerable.Range(0, 249).Select(n => new LinkInfo($"node{n:000}", $"node{n + 1:000}", 0.3 + n % 7 * 0.1, 0.2, 1.25e8)).ToArray();
        var cluster = new ClusterDescription { Devices = devices, Links = links };
        var request = Request(Model(layers: 80, layerMb: 500, embeddingMb: 250, headMb: 250, kvWidth: 1024, vocab: 32000), context: 4096, sessions: 4, headroom: 0.1);
        PoolPlanner.Plan(request, cluster); // warm up the JIT

        // act
        var watch = Stopwatch.StartNew();
        var result = PoolPlanner.Plan(request, cluster);
        watch.Stop();

        // assert (generously: a slow CI machine must not fail it)
        Assert.True(result.Succeeded, result.Failure?.Message);
        AssertValid(result.Plan!, cluster);
        output.WriteLine($"1,000 devices: planned in {watch.Elapsed.TotalMilliseconds:0.0} ms");
        output.WriteLine(result.Plan!.Describe());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"planning took {watch.Elapsed}");
    }

    [Fact]
    public void Plan_ManySmallDevices_SplitsOverAsManyAsNeeded()
    {
        // 40 GB over devices of 1.5 GB each: at least 27 stages
        var devices = Enumerable.Range(0, 2000).Select(i => Device($"d{i:0000}", 1.5, 20 + i % 50, node: $"n{i / 8:000}")).ToArray();
        var request = Request(Model(layers: 80, layerMb: 500, kvWidth: 0));

        var watch = Stopwatch.StartNew();
        var plan = PlanOrFail(request, Cluster(devices));
        output.WriteLine($"2,000 small devices: {plan.Stages.Count} stages in {watch.Elapsed.TotalMilliseconds:0.0} ms");

        Assert.True(plan.Stages.Count >= 27);
        AssertValid(plan, Cluster(devices));
    }
}
