using Tessera.Planner;
using Xunit.Abstractions;
using static Tessera.Planner.Tests.Fixtures;

namespace Tessera.Planner.Tests;

public sealed class ImproveTests(ITestOutputHelper output)
{
    private static readonly PlanRequest Req = Request(Model());

    [Fact]
    public void Improve_SmallGain_KeepsTheCurrentPlan()
    {
        // arrange: a node 10% faster joins
        var current = PlanOrFail(Req, Cluster(Device("a", 8, 100)));
        var cluster = Cluster(Device("a", 8, 100), Device("b", 8, 110));

        // act
        var result = PoolPlanner.Improve(current, Req, cluster, NoScratch);

        // assert
        Assert.False(result.Changed);
        Assert.Equal("a", Assert.Single(result.Plan!.Stages).DeviceId);
        Assert.Contains("keeping the current plan", result.Explanation);
        output.WriteLine(result.Explanation);
    }

    [Fact]
    public void Improve_IdenticalDevicesSplitUnevenly_RebalancesOnceTheirSpeedsAreKnownEqual()
    {
        // arrange: three identical devices whose short probes said 10, 20 and 60 GB/s (one machine's split 1/1/20 that
        // way); then their stages show one speed: single-stream is the same for any split, the slowest stage is not
        var req = Req with { MinStages = 3 };
        var current = PlanOrFail(req, Cluster(Device("a", 8, 10), Device("b", 8, 20), Device("c", 8, 60)));
        var observed = Cluster(Device("a", 8, 20), Device("b", 8, 20), Device("c", 8, 20));

        // act
        var result = PoolPlanner.Improve(current, req, observed, NoScratch);

        // assert: the layers are spread evenly (within one layer), and the reason says so
        output.WriteLine(result.Explanation);
        Assert.True(result.Changed);
        var counts = result.Plan!.Stages.Select(s => s.Layers.Count).ToList();
        Assert.True(counts.Max() - counts.Min() <= 1, string.Join("/", counts));
        Assert.Contains("for many sessions", result.Explanation);
    }

    [Fact]
    public void Improve_EqualSpeedsWithNoise_NeverRebalancesAnEvenSplit()
    {
        // arrange: an even split over three identical devices, re-weighed with speeds off by up to 20 % either way
        var req = Req with { MinStages = 3 };
        var current = PlanOrFail(req, Cluster(Device("a", 8, 20), Device("b", 8, 20), Device("c", 8, 20)));
        var random = new Random(5);

        for (var i = 0; i < 200; i++)
        {
            double Noisy() => 20 * (1 + 0.2 * (2 * random.NextDouble() - 1));
            var result = PoolPlanner.Improve(current, req, Cluster(Device("a", 8, Noisy()), Device("b", 8, Noisy()), Device("c", 8, Noisy())), NoScratch);
            Assert.False(result.Changed, result.Explanation);
        }
    }

    [Fact]
    public void Improve_LargeGain_SwitchesAndReportsTheMove()
    {
        // arrange: a node three times as fast joins
        var current = PlanOrFail(Req, Cluster(Device("a", 8, 100)));
        var cluster = Cluster(Device("a", 8, 100), Device("b", 8, 300));

        // act
        var result = PoolPlanner.Improve(current, Req, cluster, NoScratch);

        // assert
        Assert.True(result.Changed);
        Assert.Equal("b", Assert.Single(result.Plan!.Stages).DeviceId);
        Assert.InRange(result.SpeedRatio, 2.9, 3.1);
        var move = Assert.Single(result.Moves);
        Assert.Equal(new LayerSpan(0, 32), move.Layers);
        output.WriteLine(result.Explanation);
    }

    [Fact]
    public void Improve_AfterASwitch_DoesNotFlap()
    {
        // arrange: switch once, then let the old device measure slightly faster than the new one
        var current = PlanOrFail(Req, Cluster(Device("a", 8, 100)));
        var switched = PoolPlanner.Improve(current, Req, Cluster(Device("a", 8, 100), Device("b", 8, 300)), NoScratch).Plan!;
        var drifted = Cluster(Device("a", 8, 310), Device("b", 8, 300));

        // act
        var again = PoolPlanner.Improve(switched, Req, drifted, NoScratch);

        // assert
        Assert.False(again.Changed);
        Assert.Equal("b", Assert.Single(again.Plan!.Stages).DeviceId);
    }

    [Fact]
    public void Improve_BestPlanAlready_ChangesNothing()
    {
        var cluster = Cluster(Device("a", 8, 100), Device("b", 8, 50));
        var current = PlanOrFail(Req, cluster);

        var result = PoolPlanner.Improve(current, Req, cluster, NoScratch);

        Assert.False(result.Changed);
        Assert.Empty(result.Moves);
    }

    [Fact]
    public void Improve_MovingEverything_NeedsMoreGainThanTheMinimum()
    {
        // 30% faster clears the 20% minimum but not the 35% that moving the whole model asks
        var current = PlanOrFail(Req, Cluster(Device("a", 8, 100)));

        var result = PoolPlanner.Improve(current, Req, Cluster(Device("a", 8, 100), Device("b", 8, 130)), NoScratch);

        Assert.False(result.Changed);
        Assert.Contains("needs 35% faster", result.Explanation);
    }

    [Fact]
    public void Improve_AfterARepairWithoutTheFastDevice_ItsReturnGetsItsLayersBack_AndASecondLookChangesNothing()
    {
        // arrange: the fast device held part of a two-device plan; it was lost and a slow neighbour took its layers
        var devices = new[] { Device("slow", 8, 100), Device("fast", 8, 400) };
        var request = Request(Model()) with { MinStages = 2 };
        var planned = PlanOrFail(request, Cluster(devices));
        var lost = Cluster(devices) with { NodeStates = new Dictionary<string, NodeStatus> { ["node-fast"] = NodeStatus.Lost } };
        var repaired = PoolPlanner.Replan(planned, request, lost, ReplanReason.NodeLost, NoScratch).Plan!;
        Assert.DoesNotContain("fast", repaired.DeviceIds);

        // act: the fast device is back
        var result = PoolPlanner.Improve(repaired, request, Cluster(devices), NoScratch);
        var again = PoolPlanner.Improve(result.Plan!, request, Cluster(devices), NoScratch);

        // assert
        Assert.True(result.Changed, result.Explanation);
        Assert.Contains("fast", result.Plan!.DeviceIds);
        Assert.All(result.Moves, m => Assert.Equal("fast", m.ToDeviceId));
        Assert.True(result.SpeedRatio > 1.35);
        Assert.False(again.Changed, again.Explanation);
        output.WriteLine(result.Explanation);
    }

    [Fact]
    public void Improve_WhenTheCurrentPlanNoLongerFits_Repairs()
    {
        var devices = new[] { Device("a", 1.2, 100), Device("b", 1.2, 100), Device("c", 1.2, 100), Device("d", 1.2, 100) };
        var current = PlanOrFail(Req, Cluster(devices));
        var shrunk = devices.Select(d => d.Id == current.Stages[0].DeviceId ? d with { FreeMemoryBytes = 100 * MB } : d).ToArray();

        var result = PoolPlanner.Improve(current, Req, Cluster(shrunk), NoScratch);

        Assert.True(result.Changed);
        Assert.DoesNotContain(current.Stages[0].DeviceId, result.Plan!.DeviceIds);
        AssertValid(result.Plan, Cluster(shrunk));
    }
}
