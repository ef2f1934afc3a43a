namespace Tessera.Pool.State;

/// <summary>A measured link between two nodes (filled by link probes; used by the planner).</summary>
public sealed record LinkRecord(
    string FromNodeId,
    string ToNodeId,
    double RttMs,
    double JitterP99Ms,
    double BandwidthMbps,
    DateTimeOffset MeasuredAt);
