namespace Tessera.Pool.Membership;

/// <summary>The pure transition rules of <see cref="NodeState"/>. Every change it returns is stored as an event.</summary>
public static class NodeLifecycle
{
    /// <summary>State after a heartbeat (or a hello) from the node.</summary>
    public static NodeState OnHeartbeat(NodeState current, bool drained) => current switch
    {
        NodeState.Left => NodeState.Left,
        _ => drained ? NodeState.Draining : NodeState.Ready,
    };

    /// <summary>State after the failure detector's verdict.</summary>
    public static NodeState OnVerdict(NodeState current, LivenessVerdict verdict) => (current, verdict) switch
    {
        (NodeState.Left, _) => NodeState.Left,
        (NodeState.Down, _) => NodeState.Down,
        (_, LivenessVerdict.Down) => NodeState.Down,
        (NodeState.Ready or NodeState.Draining or NodeState.Joining, LivenessVerdict.Suspect) => NodeState.Suspect,
        _ => current,
    };

    /// <summary>State after an administrator drains the node.</summary>
    public static NodeState OnDrain(NodeState current) => current switch
    {
        NodeState.Ready or NodeState.Joining => NodeState.Draining,
        _ => current,
    };

    /// <summary>True for states in which the node is expected to heartbeat.</summary>
    public static bool IsMonitored(NodeState state) =>
        state is NodeState.Joining or NodeState.Ready or NodeState.Suspect or NodeState.Draining;
}
