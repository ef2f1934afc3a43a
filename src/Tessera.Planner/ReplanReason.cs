namespace Tessera.Planner;

/// <summary>Why <see cref="PoolPlanner.Replan"/> was called; it shapes the explanation, not the placement.</summary>
public enum ReplanReason
{
    /// <summary>A node or device holding a stage was lost.</summary>
    NodeLost,

    /// <summary>A node is being drained by its owner.</summary>
    NodeDrained,

    /// <summary>Free memory changed so that a stage no longer fits.</summary>
    CapacityChanged,
}
