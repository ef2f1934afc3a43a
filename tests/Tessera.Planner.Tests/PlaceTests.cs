using Tessera.Planner;
using static Tessera.Planner.Tests.Fixtures;

namespace Tessera.Planner.Tests;

/// <summary>A placement the user gives (<see cref="PoolPlanner.Place"/>): kept as given, predicted as the planner predicts, refused with the reason.</summary>
public sealed class PlaceTests
{
    /// <summary>Three equal nodes, a-c and c-b fast, a-b 40 ms: the planner's own order is a, c, b.</summary>
    private static ClusterDescription ThreeNodes() =>
        Cluster(Device("a", 1.2, 100), Device("b", 1.2, 100), Device("c", 1.2, 100)) with
        {
            Links =
            [
                new LinkInfo("node-a", "node-b", 40, 10, 1e6),
                new LinkInfo("node-a", "node-c", 0.5, 0.1, 1e9),
                new LinkInfo("node-c", "node-b", 0.5, 0.1, 1e9),
            ],
        };

    private static StagePlacement At(string device, int first, int last) => new(device, new LayerSpan(first, last));

    [Fact]
    public void Place_KeepsTheStagesAsGiven_AndPredictsThemAsThePlannerWould()
    {
        var cluster = ThreeNodes();
        var request = Request(Model());

        // act: a split across the slow a-b link
        var result = PoolPlanner.Place(request, cluster, [At("a", 0, 11), At("b", 11, 22), At("c", 22, 32)], NoScratch);

        // assert: the stages as given; the prediction is the one the planner gives its own plan for the same stages
        Assert.True(result.Succeeded, result.Failure?.Message);
        var plan = result.Plan!;
        AssertValid(plan, cluster);
        Assert.Equal(["a", "b", "c"], plan.Stages.Select(s => s.DeviceId));
        Assert.Equal([new LayerSpan(0, 11), new LayerSpan(11, 22), new LayerSpan(22, 32)], plan.Stages.Select(s => s.Layers));
        var own = PlanOrFail(request, cluster);
        Assert.Equal(["a", "c", "b"], own.Stages.Select(s => s.DeviceId));
        Assert.True(plan.SingleStreamTokensPerSecond < own.SingleStreamTokensPerSecond / 2, plan.Describe());
        // placing the planner's own stages predicts exactly what the planner predicted for them
        var same = PoolPlanner.Place(request, cluster, own.Stages.Select(s => new StagePlacement(s.DeviceId, s.Layers)).ToList(), NoScratch);
        Assert.Equal(own.SingleStreamTokensPerSecond, same.Plan!.SingleStreamTokensPerSecond, 9);
        Assert.Equal(own.MaxThroughputTokensPerSecond, same.Plan.MaxThroughputTokensPerSecond, 9);
        // the explanation names the planner's choice beside this one
        Assert.Contains("Placed as asked: node-a layers 0-11, node-b layers 11-22, node-c layers 22-32", plan.Explanation);
        Assert.Contains("The planner's own plan (node-a layers", plan.Explanation);
    }

    public static TheoryData<StagePlacement[], string> Refused => new()
    {
        { [At("a", 0, 10), At("b", 11, 22), At("c", 22, 32)], "leaves layers 10-11 to no stage" },
        { [At("a", 0, 11), At("b", 8, 19), At("c", 19, 32)], "do not follow on from layer 11" },
        { [At("a", 0, 11), At("b", 11, 22), At("c", 22, 30)], "leaves layers 30-32 to no stage" },
        { [At("a", 0, 11), At("b", 11, 22), At("c", 22, 33)], "go past the model's last layer" },
        { [At("a", 0, 11), At("a", 11, 22), At("c", 22, 32)], "two stages on a" },
        { [At("a", 0, 11), At("z", 11, 22), At("c", 22, 32)], "names z, which is not in the pool" },
        { [At("a", 0, 20), At("b", 20, 32)], "Layers 0-20 need 2.0 GB on node-a, which has 1.2 GB free" },
        { [], "names no stage" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Place_RefusesASplitThatDoesNotCoverTheModelOrFit_SayingWhy(StagePlacement[] stages, string expected)
    {
        var result = PoolPlanner.Place(Request(Model()), ThreeNodes(), stages, NoScratch);

        Assert.False(result.Succeeded);
        Assert.Contains(expected, result.Failure!.Message);
    }

    [Fact]
    public void Place_RefusesANodeThatIsNotUsable()
    {
        var cluster = ThreeNodes() with { NodeStates = new Dictionary<string, NodeStatus> { ["node-b"] = NodeStatus.Draining } };

        var result = PoolPlanner.Place(Request(Model()), cluster, [At("a", 0, 11), At("b", 11, 22), At("c", 22, 32)], NoScratch);

        Assert.False(result.Succeeded);
        Assert.Contains("node-b (b), which cannot take a stage now (Draining)", result.Failure!.Message);
    }
}
