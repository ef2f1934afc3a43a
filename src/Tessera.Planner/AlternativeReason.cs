namespace Tessera.Planner;

/// <summary>Why the planner did not choose a <see cref="PlanAlternative"/>.</summary>
public enum AlternativeReason
{
    /// <summary>The model (or a stage of it) does not fit the devices' memory.</summary>
    DoesNotFit,

    /// <summary>Slower for one session (single-stream tokens/s).</summary>
    Slower,

    /// <summary>As fast or nearly for one session, but fewer tokens/s with many sessions (a slower slowest stage).</summary>
    LessThroughput,

    /// <summary>More hops than the chosen plan, and their latency costs more than the extra device saves.</summary>
    MoreHops,

    /// <summary>Its pace with many sessions is set by a hop rather than by a stage's compute.</summary>
    HopBound,

    /// <summary>Crosses a jittery link the chosen plan avoids: its tokens' p99 latency is worse.</summary>
    CrossesJitteryLink,

    /// <summary>Fewer replicas than the pool allows: less aggregate throughput.</summary>
    FewerReplicas,

    /// <summary>More replicas, each on devices so slow or so spread that one session's speed would fall too far.</summary>
    SingleStreamTooSlow,
}
