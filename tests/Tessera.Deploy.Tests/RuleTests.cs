using Tessera.Planner;
using Tessera.Pool.Membership;
using Tessera.Serving.Protocol;

namespace Tessera.Deploy.Tests;

/// <summary>The controller's pure decisions, without a controller.</summary>
public sealed class RuleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static PoolNode Node(string id, NodeState state = NodeState.Ready, bool connected = true, bool drained = false) =>
        new(id, id, state, drained, connected, "10.0.0.1", 1L << 30, 5);

    private static StoredStage Stage(int index, string node, int first, int last, string file = "f") =>
        new(0, index, node, node, first, last, 100, 10, 1, file, 1, "/" + file);

    private static Dictionary<string, PoolNode> Nodes(params PoolNode[] nodes) => nodes.ToDictionary(n => n.Id);

    [Fact]
    public void Validate_NormalizesTheModelAndTheActivationFormat_AndNamesByTheFile()
    {
        var valid = DeploymentRequestRules.Validate(new DeploymentRequest("  /models/Tiny-Llama.Q4_0.gguf ", Activations: "Q8"));

        Assert.Equal("/models/Tiny-Llama.Q4_0.gguf", valid.Model);
        Assert.Equal(ActivationFormat.Q8, valid.Activations);
        Assert.Equal("Tiny-Llama.Q4_0", DeploymentRequestRules.NameOf(valid));
        Assert.Equal("hf-name", DeploymentRequestRules.NameOf(DeploymentRequestRules.Validate(new DeploymentRequest("hf://o/r/x.gguf", Name: " hf-name "))));
    }

    [Theory]
    [InlineData("hf://o/r/../../x.gguf")]
    [InlineData("hf://o/r/%2e%2e/x.gguf")]
    [InlineData("hf://evil.com@o/r/x.gguf")]
    public void Validate_RefusesAnHfReferenceThatCouldLeaveItsRepository(string model)
    {
        var e = Assert.Throws<DeploymentException>(() => DeploymentRequestRules.Validate(new DeploymentRequest(model)));

        Assert.Equal(DeploymentErrorKind.Invalid, e.Kind);
        Assert.Contains("a valid reference looks like hf://owner/repo/file.gguf", e.Message);
    }

    [Fact]
    public void Validate_TakesARepositoryWithAQuantizationTag_AndRefusesABadTag()
    {
        var valid = DeploymentRequestRules.Validate(new DeploymentRequest("hf://acme/tiny-GGUF:Q4_K_M"));
        Assert.Equal("tiny-GGUF:Q4_K_M", DeploymentRequestRules.NameOf(valid));

        var e = Assert.Throws<DeploymentException>(() => DeploymentRequestRules.Validate(new DeploymentRequest("hf://acme/tiny-GGUF:Q4 K")));
        Assert.Contains("the tag", e.Message);
    }

    [Theory]
    [InlineData(null, 32768, 4096)]
    [InlineData(null, 2048, 2048)]
    [InlineData(8192, 4096, 8192)]
    public void ContextOf_IsTheRequestedOne_ElseTheModelsCapped(int? requested, int model, int expected) =>
        Assert.Equal(expected, DeploymentRequestRules.ContextOf(new DeploymentRequest("m", Context: requested), model));

    [Fact]
    public void Swap_KeepsStagesThatDoTheSameWork_StartsTheRest_AndStopsTheReplacedOnesExceptOnDeadNodes()
    {
        object a = new(), b = new(), c = new();
        var stored = new Dictionary<object, StoredStage>(ReferenceEqualityComparer.Instance)
        {
            [a] = Stage(0, "n1", 0, 3), [b] = Stage(1, "n2", 3, 6), [c] = Stage(2, "n3", 6, 8),
        };
        // n2 died: its layers go to n4; n3 keeps its work
        IReadOnlyList<StoredStage> next = [Stage(0, "n1", 0, 3), Stage(1, "n4", 3, 6), Stage(2, "n3", 6, 8)];

        var (stages, stops) = PlanSwap.Swap([a, b, c], next, o => stored[o], s => { var o = new object(); stored[o] = s; return o; }, new HashSet<string> { "n2" });

        Assert.Same(a, stages[0]);
        Assert.NotSame(b, stages[1]);
        Assert.Equal("n4", stored[stages[1]].NodeId);
        Assert.Same(c, stages[2]);
        Assert.Empty(stops); // the replaced stage's node is dead: it cannot be told

        var (_, moved) = PlanSwap.Swap([a, b, c], next, o => stored[o], s => new object(), new HashSet<string>());
        Assert.Equal([new StageStop("n2", 1, 3, 6, "cpu")], moved);
    }

    [Fact]
    public void ForStage_SendsWhatWasNeverSentOrWentUnanswered_AndWaitsForNodesThatDoNotServe()
    {
        var ready = Node("n");
        Assert.Equal(StageAction.Send, ReconcileRules.ForStage(StageStates.Pending, null, ready, T0));
        Assert.Equal(StageAction.Send, ReconcileRules.ForStage(StageStates.Waiting, T0, ready, T0));
        Assert.Equal(StageAction.None, ReconcileRules.ForStage(StageStates.Starting, T0, ready, T0 + TimeSpan.FromSeconds(5)));
        Assert.Equal(StageAction.Send, ReconcileRules.ForStage(StageStates.Starting, T0, ready, T0 + ReconcileRules.ResendAfter + TimeSpan.FromSeconds(1)));
        Assert.Equal(StageAction.None, ReconcileRules.ForStage(StageStates.Ready, T0, ready, T0 + TimeSpan.FromHours(1)));
        Assert.Equal(StageAction.None, ReconcileRules.ForStage(StageStates.Ready, T0, Node("n", NodeState.Draining), T0));
        Assert.Equal(StageAction.Wait, ReconcileRules.ForStage(StageStates.Ready, T0, Node("n", connected: false), T0));
        Assert.Equal(StageAction.Wait, ReconcileRules.ForStage(StageStates.Ready, T0, Node("n", NodeState.Suspect), T0));
        Assert.Equal(StageAction.Wait, ReconcileRules.ForStage(StageStates.Loading, T0, null, T0));
        Assert.Equal(StageAction.None, ReconcileRules.ForStage(StageStates.Waiting, T0, null, T0));
    }

    [Fact]
    public void DrainedNodes_AreThoseStillConnectedThatHoldStages()
    {
        var stages = new[] { Stage(0, "a", 0, 4), Stage(1, "b", 4, 8) };

        var drained = ReconcileRules.DrainedNodes(stages, Nodes(Node("a", NodeState.Draining, drained: true), Node("b"), Node("c", NodeState.Draining, drained: true)));

        Assert.Equal(["a"], drained);
        Assert.Empty(ReconcileRules.DrainedNodes(stages, Nodes(Node("a", NodeState.Down, connected: false, drained: true), Node("b"))));
    }

    [Fact]
    public void LostNodes_AreTheStagesNodesThatDoNotServe()
    {
        var stages = new[] { Stage(0, "a", 0, 3), Stage(1, "b", 3, 6), Stage(2, "c", 6, 8) };

        var lost = RecoveryRules.LostNodes(stages, Nodes(Node("a"), Node("b", NodeState.Suspect), Node("c", NodeState.Draining)));

        Assert.Equal(["b"], lost);
        Assert.Equal(["c"], RecoveryRules.LostNodes(stages, Nodes(Node("a"), Node("b"))));
    }

    [Fact]
    public void SuspectedCutLink_NeedsBothEndsServing_AndNeverBlamesTheCoordinatorsOwnLink()
    {
        PlacedStage[] replica = [new(Stage(0, "a", 0, 3), "a:1", true), new(Stage(1, "b", 3, 6), "b:1", true), new(Stage(2, "c", 6, 8), "c:1", true)];
        var all = Nodes(Node("a"), Node("b"), Node("c"));

        Assert.Equal(("a", "b"), RecoveryRules.SuspectedCutLink(replica, "b:1", all) is { } link ? (link.Upstream.NodeId, link.Downstream.NodeId) : default);
        Assert.Null(RecoveryRules.SuspectedCutLink(replica, "a:1", all));
        Assert.Null(RecoveryRules.SuspectedCutLink(replica, null, all));
        Assert.Null(RecoveryRules.SuspectedCutLink(replica, "b:1", Nodes(Node("a"), Node("b", connected: false), Node("c"))));
    }

    [Fact]
    public void UnreachableNodes_AreReadyStagesTheCoordinatorCannotReach_WhoseAgentsAreConnected()
    {
        PlacedStage[] replica = [new(Stage(0, "a", 0, 3), "a:1", true), new(Stage(1, "b", 3, 6), "b:1", true), new(Stage(2, "c", 6, 8), "c:1", false)];
        var problems = new Dictionary<string, string?> { ["a:1"] = null, ["b:1"] = "deadline exceeded", ["c:1"] = "refused" };

        Assert.Equal(["a:1", "b:1"], RecoveryRules.ReadyEndpoints(replica));
        Assert.Equal(["b"], RecoveryRules.UnreachableNodes(replica, problems, Nodes(Node("a"), Node("b"), Node("c"))));
        Assert.Empty(RecoveryRules.UnreachableNodes(replica, problems, Nodes(Node("a"), Node("b", connected: false), Node("c"))));
    }

    [Fact]
    public void Cluster_OffersPlaceableNodesWithTheirFreeMemoryLessWhatOthersHold_AndReportsTheLeftOnes()
    {
        var nodes = new[] { Node("a"), Node("b", NodeState.Draining, drained: true), Node("c", connected: false), Node("d") with { CpuSpeedGBps = 0 } };

        var others = new Dictionary<string, long> { [PoolCluster.CpuDevice("a")] = 1L << 20 };
        var cluster = PoolCluster.Build(nodes, new DeviceHoldings(others, others), new HashSet<string> { "d" });

        var device = Assert.Single(cluster.Devices);
        Assert.Equal(PoolCluster.CpuDevice("a"), device.Id);
        Assert.Equal((1L << 30) - (1L << 20), device.FreeMemoryBytes);
        Assert.Equal(NodeStatus.Lost, cluster.NodeStates["d"]);
        Assert.Equal(PoolCluster.UnmeasuredSpeedGBps, PoolCluster.Build([nodes[3]], DeviceHoldings.None).Devices[0].MemoryBandwidthGBps);
        Assert.Equal("a", PoolCluster.NodeOf(PoolCluster.CpuDevice("a")));
        Assert.Null(PoolCluster.NodeOf("spare"));
    }

    [Theory]
    [InlineData("0.0.0.0:5000", "192.168.1.7", "10.0.0.100:7470", "192.168.1.7:5000")]
    [InlineData("0.0.0.0:5000", "127.0.0.1", "10.0.0.100:7470", "10.0.0.100:5000")]
    [InlineData("0.0.0.0:5000", "127.0.0.1", "127.0.0.1:7470", "127.0.0.1:5000")]
    [InlineData("0.0.0.0:5000", "", "127.0.0.1:7470", "127.0.0.1:5000")]
    [InlineData("192.168.1.7:5000", "10.1.1.1", "10.0.0.100:7470", "192.168.1.7:5000")]
    public void PeerEndpoint_ReachesAStageListeningEverywhere_AtItsNodesAddress(string endpoint, string nodeAddress, string coordinator, string expected) =>
        Assert.Equal(expected, StageEndpoints.Peer(endpoint, nodeAddress, coordinator));
}
