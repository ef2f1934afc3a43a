namespace Tessera.Planner;

/// <summary>Whether the planner may place stages on a node.</summary>
public enum NodeStatus
{
    /// <summary>Connected and accepting work.</summary>
    Usable,

    /// <summary>Being drained by its owner: alive (its stages can still send their weights) but takes no stage.</summary>
    Draining,

    /// <summary>Gone (missed heartbeats, killed, unreachable): takes no stage.</summary>
    Lost,
}
