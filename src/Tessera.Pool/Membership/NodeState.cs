namespace Tessera.Pool.Membership;

/// <summary>The life cycle of a node in the pool.</summary>
public enum NodeState
{
    /// <summary>Holds a certificate but has not yet opened its stream.</summary>
    Joining,
    /// <summary>Heartbeating and available for work.</summary>
    Ready,
    /// <summary>Heartbeats are late; the failure detector is not yet sure it is gone.</summary>
    Suspect,
    /// <summary>No heartbeats for longer than the detector's bound; its work must move elsewhere.</summary>
    Down,
    /// <summary>Alive, but an administrator asked that no new work be placed on it.</summary>
    Draining,
    /// <summary>Removed from the pool; its certificate is refused from now on.</summary>
    Left,
}

/// <summary>Names of states as they appear in the API, the CLI and the database.</summary>
public static class NodeStateNames
{
    public static string ToWire(this NodeState state) => state switch
    {
        NodeState.Joining => "joining",
        NodeState.Ready => "ready",
        NodeState.Suspect => "suspect",
        NodeState.Down => "down",
        NodeState.Draining => "draining",
        NodeState.Left => "left",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    public static NodeState Parse(string wire) => wire switch
    {
        "joining" => NodeState.Joining,
        "ready" => NodeState.Ready,
        "suspect" => NodeState.Suspect,
        "down" => NodeState.Down,
        "draining" => NodeState.Draining,
        "left" => NodeState.Left,
        _ => throw new FormatException($"'{wire}' is not a node state."),
    };
}
