using Tessera.Pool.Membership;

namespace Tessera.Pool.Tests.Membership;

public sealed class NodeLifecycleTests
{
    [Theory]
    [InlineData(NodeState.Joining, false, NodeState.Ready)]
    [InlineData(NodeState.Suspect, false, NodeState.Ready)]
    [InlineData(NodeState.Down, false, NodeState.Ready)]
    [InlineData(NodeState.Down, true, NodeState.Draining)]
    [InlineData(NodeState.Left, false, NodeState.Left)]
    public void Heartbeat_BringsALiveNodeBack(NodeState from, bool drained, NodeState expected)
    {
        Assert.Equal(expected, NodeLifecycle.OnHeartbeat(from, drained));
    }

    [Theory]
    [InlineData(NodeState.Ready, LivenessVerdict.Suspect, NodeState.Suspect)]
    [InlineData(NodeState.Draining, LivenessVerdict.Suspect, NodeState.Suspect)]
    [InlineData(NodeState.Suspect, LivenessVerdict.Down, NodeState.Down)]
    [InlineData(NodeState.Ready, LivenessVerdict.Down, NodeState.Down)]
    [InlineData(NodeState.Down, LivenessVerdict.Suspect, NodeState.Down)]
    [InlineData(NodeState.Left, LivenessVerdict.Down, NodeState.Left)]
    [InlineData(NodeState.Ready, LivenessVerdict.Alive, NodeState.Ready)]
    public void Verdict_MovesTowardsDownOnly(NodeState from, LivenessVerdict verdict, NodeState expected)
    {
        Assert.Equal(expected, NodeLifecycle.OnVerdict(from, verdict));
    }

    [Fact]
    public void Drain_AppliesToReadyNodesAndKeepsOtherStates()
    {
        Assert.Equal(NodeState.Draining, NodeLifecycle.OnDrain(NodeState.Ready));
        Assert.Equal(NodeState.Down, NodeLifecycle.OnDrain(NodeState.Down));
        Assert.Equal(NodeState.Left, NodeLifecycle.OnDrain(NodeState.Left));
    }

    [Fact]
    public void StateNames_RoundTrip()
    {
        foreach (var state in Enum.GetValues<NodeState>())
            Assert.Equal(state, NodeStateNames.Parse(state.ToWire()));
    }
}
