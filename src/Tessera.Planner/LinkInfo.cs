namespace Tessera.Planner;

/// <summary>
/// A measured network link between two nodes. Links are symmetric: one measurement serves both directions.
/// Links the pool has not measured get <see cref="PlannerOptions.UnknownLink"/>; two devices of one node use
/// <see cref="PlannerOptions.SameNodeLink"/>.
/// </summary>
/// <param name="NodeA">One end's node id.</param>
/// <param name="NodeB">The other end's node id.</param>
/// <param name="RttMs">Round-trip time in milliseconds (median).</param>
/// <param name="JitterP99Ms">99th percentile of the deviation from the median RTT, in milliseconds.</param>
/// <param name="BandwidthBytesPerSecond">Measured throughput in bytes per second.</param>
/// <param name="MeasuredJitterP99Ms">
/// The jitter the link's packets really see, when <paramref name="JitterP99Ms"/> is a figure adjusted for choosing
/// between links (the coordinator plans with the excess over the pool's common jitter, which tells links apart; a
/// pool whose links are all equally jittery then plans with none). The per-token p50/p99 prediction draws from this
/// one, so uniform jitter still shows in them; null: the same as <paramref name="JitterP99Ms"/>.
/// </param>
public sealed record LinkInfo(string NodeA, string NodeB, double RttMs, double JitterP99Ms, double BandwidthBytesPerSecond, double? MeasuredJitterP99Ms = null)
{
    /// <summary>Wildcard node id used by the default links in <see cref="PlannerOptions"/>.</summary>
    public const string AnyNode = "*";

    /// <summary>True when this link joins <paramref name="a"/> and <paramref name="b"/> in either direction.</summary>
    public bool Joins(string a, string b) =>
        (string.Equals(NodeA, a, StringComparison.Ordinal) && string.Equals(NodeB, b, StringComparison.Ordinal)) ||
        (string.Equals(NodeA, b, StringComparison.Ordinal) && string.Equals(NodeB, a, StringComparison.Ordinal));
}
