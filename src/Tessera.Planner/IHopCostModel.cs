namespace Tessera.Planner;

/// <summary>
/// How long one token's activation takes to cross a link. The seam for network-aware planning: the default model
/// uses the link's RTT, jitter and bandwidth; a richer one (congestion, shared uplinks, measured per-hop
/// histograms) plugs in through <see cref="PlannerOptions.HopCost"/> without touching the placement search.
/// </summary>
public interface IHopCostModel
{
    /// <summary>Seconds one token's <paramref name="bytes"/> take from one stage to the next over <paramref name="link"/>.</summary>
    double HopSeconds(LinkInfo link, long bytes);
}

/// <summary>
/// The default hop cost: half the RTT (one way) plus half the p99 jitter (a mildly pessimistic allowance for
/// queueing) plus the transfer time of the bytes at the link's bandwidth.
/// </summary>
public sealed class HopCostModel : IHopCostModel
{
    public static HopCostModel Default { get; } = new();

    public double HopSeconds(LinkInfo link, long bytes)
    {
        ArgumentNullException.ThrowIfNull(link);
        var oneWay = (Math.Max(0, link.RttMs) + Math.Max(0, link.JitterP99Ms)) / 2 / 1000.0;
        var transfer = link.BandwidthBytesPerSecond > 0 ? bytes / link.BandwidthBytesPerSecond : 0;
        return oneWay + transfer;
    }
}
