using Tessera.Planner;
using Xunit.Abstractions;
using static Tessera.Planner.Tests.Fixtures;

namespace Tessera.Planner.Tests;

public sealed class ReplanTests(ITestOutputHelper output)
{
    // 3.2 GB over devices of 1.2 GB: three stages; "spare" is left over
    private static readonly DeviceInfo[] Devices =
        [Device("a", 1.2, 100), Device("b", 1.2, 100), Device("c", 1.2, 100), Device("spare", 1.2, 90)];

    private static ClusterDescription With(NodeStatus status, string node, params DeviceInfo[] devices) =>
        Cluster(devices) with { NodeStates = new Dictionary<string, NodeStatus> { [node] = status } };

    [Fact]
    public void Replan_AfterLostMiddleStage_MovesOnlyThatStagesLayersToTheSpare()
    {
        // arrange
        var request = Request(Model());
        var before = PlanOrFail(request, Cluster(Devices));
        Assert.Equal(["a", "b", "c"], before.Stages.Select(s => s.DeviceId));
        var middle = before.Stages[1];
        var cluster = With(NodeStatus.Lost, middle.NodeId, Devices);

        // act
        var result = PoolPlanner.Replan(before, request, cluster, ReplanReason.NodeLost, NoScratch);

        // assert
        Assert.True(result.Succeeded, result.Failure?.Message);
        Assert.True(result.Changed);
        var move = Assert.Single(result.Moves);
        Assert.Equal(middle.Layers, move.Layers);
        Assert.Equal("b", move.FromDeviceId);
        Assert.Equal("spare", move.ToDeviceId);
        Assert.Equal(middle.Layers.Count, result.LayersMoved);
        Assert.Equal(before.Stages[0].Layers, result.Plan!.Stages[0].Layers);
        Assert.Equal(before.Stages[2].Layers, result.Plan.Stages[2].Layers);
        Assert.Equal(["a", "spare", "c"], result.Plan.Stages.Select(s => s.DeviceId));
        AssertValid(result.Plan, cluster);
        output.WriteLine(result.Explanation);
    }

    [Fact]
    public void Replan_TwoAdjacentStagesLost_TheirLayersMoveAsOneRangeToOneSpare()
    {
        // arrange: a and b (stages 0 and 1) go together; only a larger spare can take both ranges
        var devices = Devices.Append(Device("big", 2.5, 80)).ToArray();
        var request = Request(Model());
        var before = PlanOrFail(request, Cluster(Devices));
        var cluster = Cluster(devices) with { NodeStates = new Dictionary<string, NodeStatus> { ["node-a"] = NodeStatus.Lost, ["node-b"] = NodeStatus.Lost } };

        // act
        var result = PoolPlanner.Replan(before, request, cluster, ReplanReason.NodeLost, NoScratch);

        // assert: one stage on the spare holds both lost ranges, c keeps its layers; each lost range is one move
        Assert.True(result.Succeeded, result.Failure?.Message);
        Assert.Equal(["big", "c"], result.Plan!.Stages.Select(s => s.DeviceId));
        Assert.Equal(new LayerSpan(0, before.Stages[1].Layers.Last), result.Plan.Stages[0].Layers);
        Assert.Equal(before.Stages[2].Layers, result.Plan.Stages[1].Layers);
        Assert.Equal([("a", "big"), ("b", "big")], result.Moves.Select(m => (m.FromDeviceId, m.ToDeviceId)));
        Assert.Equal(before.Stages[0].Layers.Count + before.Stages[1].Layers.Count, result.LayersMoved);
        AssertValid(result.Plan, cluster);
        output.WriteLine(result.Explanation);
    }

    [Fact]
    public void Replan_WithoutSpare_NeighboursExtendTheirRanges()
    {
        // arrange: planned on small devices; by the time b is lost, a and c have more room
        var request = Request(Model());
        var before = PlanOrFail(request, Cluster(Devices[..3]));
        var lost = before.Stages[1];
        var cluster = With(NodeStatus.Lost, lost.NodeId, Device("a", 2.5, 100), Device("b", 1.2, 100), Device("c", 2.5, 100));

        // act
        var result = PoolPlanner.Replan(before, request, cluster, ReplanReason.NodeLost, NoScratch);

        // assert: two stages, each neighbour kept its own layers and took part of b's
        Assert.True(result.Succeeded, result.Failure?.Message);
        Assert.Equal(["a", "c"], result.Plan!.Stages.Select(s => s.DeviceId));
        Assert.Equal(lost.Layers.Count, result.LayersMoved);
        Assert.All(result.Moves, m => Assert.Equal(m.Layers.Count, m.Layers.Overlap(lost.Layers)));
        Assert.Equal(before.Stages[0].Layers.First, result.Plan.Stages[0].Layers.First);
        Assert.True(result.Plan.Stages[0].Layers.Last >= before.Stages[0].Layers.Last);
        Assert.True(result.Plan.Stages[1].Layers.First <= before.Stages[2].Layers.First);
        AssertValid(result.Plan, cluster);
        output.WriteLine(result.Explanation);
    }

    [Fact]
    public void Replan_LostFirstStage_GivesItsLayersAndTheEmbeddingAway()
    {
        var model = Model(embeddingMb: 50, headMb: 50);
        var request = Request(model);
        var before = PlanOrFail(request, Cluster(Devices));
        var first = before.Stages[0];
        var cluster = With(NodeStatus.Lost, first.NodeId, Devices);

        var result = PoolPlanner.Replan(before, request, cluster, ReplanReason.NodeLost, NoScratch);

        Assert.True(result.Succeeded, result.Failure?.Message);
        var move = Assert.Single(result.Moves);
        Assert.Equal(first.Layers, move.Layers);
        Assert.Equal(model.LayerBytes(first.Layers) + model.EmbeddingBytes, move.Bytes);
        AssertValid(result.Plan!, cluster);
    }

    [Fact]
    public void Replan_Drain_MovesTheDrainedStageAway()
    {
        var request = Request(Model());
        var before = PlanOrFail(request, Cluster(Devices));
        var drained = before.Stages[2];
        var cluster = With(NodeStatus.Draining, drained.NodeId, Devices);

        var result = PoolPlanner.Replan(before, request, cluster, ReplanReason.NodeDrained, NoScratch);

        Assert.True(result.Succeeded, result.Failure?.Message);
        Assert.DoesNotContain(drained.DeviceId, result.Plan!.DeviceIds);
        Assert.All(result.Moves, m => Assert.Equal(drained.DeviceId, m.FromDeviceId));
        Assert.Equal(drained.Layers.Count, result.LayersMoved);
        Assert.Contains("draining", result.Explanation);
        AssertValid(result.Plan, cluster);
        output.WriteLine(result.Explanation);
    }

    [Fact]
    public void Replan_NothingLost_ChangesNothing()
    {
        var request = Request(Model());
        var before = PlanOrFail(request, Cluster(Devices));

        var result = PoolPlanner.Replan(before, request, Cluster(Devices), ReplanReason.NodeLost, NoScratch);

        Assert.False(result.Changed);
        Assert.Empty(result.Moves);
        Assert.Equal(before.Stages.Select(s => (s.DeviceId, s.Layers)), result.Plan!.Stages.Select(s => (s.DeviceId, s.Layers)));
    }

    [Fact]
    public void Replan_WhenTheRestCannotHoldTheModel_FailsWithTheMissingAmount()
    {
        var request = Request(Model());
        var before = PlanOrFail(request, Cluster(Devices[..3]));
        var cluster = With(NodeStatus.Lost, before.Stages[1].NodeId, Devices[..3]);

        var result = PoolPlanner.Replan(before, request, cluster, ReplanReason.NodeLost, NoScratch);

        Assert.False(result.Succeeded);
        Assert.Contains("missing", result.Failure!.Message);
        output.WriteLine(result.Failure.Message);
    }

    [Fact]
    public void Replan_WhenNoSpareNorNeighbourFits_PlansAfresh()
    {
        // b is lost; a and c stay full and the only spare is too small for b's layers, but two spares together fit
        var request = Request(Model());
        var before = PlanOrFail(request, Cluster(Devices[..3]));
        var devices = Devices[..3].Concat([Device("s1", 0.8, 100), Device("s2", 0.8, 100)]).ToArray();
        var cluster = With(NodeStatus.Lost, before.Stages[1].NodeId, devices);

        var result = PoolPlanner.Replan(before, request, cluster, ReplanReason.NodeLost, NoScratch);

        Assert.True(result.Succeeded, result.Failure?.Message);
        Assert.DoesNotContain("b", result.Plan!.DeviceIds);
        Assert.Contains("planned afresh", result.Explanation);
        AssertValid(result.Plan, cluster);
    }
}
