namespace Tessera.Pool.State;

/// <summary>
/// A link as measured from one node (or the coordinator) to another: the probe's round trips over the stage transport
/// and the throughput of a bounded transfer. The planner treats links as symmetric.
/// </summary>
/// <param name="RttMs">Median round trip, in milliseconds.</param>
/// <param name="JitterP99Ms">Jitter: the 99th percentile of |round trip - median|, in milliseconds.</param>
/// <param name="BandwidthMbps">Throughput in megabits per second (0: not measured).</param>
public sealed record LinkRecord(
    string FromNodeId,
    string ToNodeId,
    double RttMs,
    double JitterP99Ms,
    double BandwidthMbps,
    DateTimeOffset MeasuredAt)
{
    /// <summary>The from-id of links measured by a coordinator that runs no agent of its own.</summary>
    public const string Coordinator = "coordinator";

    /// <summary>99th percentile round trip, in milliseconds.</summary>
    public double RttP99Ms { get; init; }

    /// <summary>Fraction of echoes not answered within the probe's timeout.</summary>
    public double Loss { get; init; }

    /// <summary>Echoes answered.</summary>
    public int Samples { get; init; }

    /// <summary>Why the link could not be measured (the far end did not answer); null when it was.</summary>
    public string? Error { get; init; }

    public bool Reachable => Error is null;
}
