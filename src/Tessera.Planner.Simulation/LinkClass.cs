using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>
/// A kind of network path between two machines, as a pool's link probe would measure it (median RTT, p99 jitter,
/// throughput) plus the packet loss the probe does not report.
/// </summary>
/// <param name="Name">Short name for tables, e.g. "home internet".</param>
/// <param name="RttMs">Median round-trip time.</param>
/// <param name="JitterP99Ms">99th percentile of the deviation from the median RTT.</param>
/// <param name="BandwidthBytesPerSecond">Throughput of one direction (for home internet: the upload, the narrower side).</param>
/// <param name="LossFraction">Packets lost (0.01 = 1 %).</param>
/// <param name="Source">Where the figures come from, or what is assumed.</param>
public sealed record LinkClass(string Name, double RttMs, double JitterP99Ms, double BandwidthBytesPerSecond, double LossFraction, string Source)
{
    /// <summary>
    /// TCP's minimum retransmission timeout on Linux (200 ms): a lost packet delays its token by about that much.
    /// </summary>
    public const double RetransmitTimeoutMs = 200;

    /// <summary>
    /// The link as the planner is given it. The planner has no loss term, so loss is folded into the RTT as its mean
    /// cost both ways (loss x retransmit timeout per direction): 1 % loss adds 4 ms; jitter stays the measured p99.
    /// </summary>
    public LinkInfo ToLinkInfo(string nodeA, string nodeB) =>
        new(nodeA, nodeB, RttMs + 2 * LossFraction * RetransmitTimeoutMs, JitterP99Ms, BandwidthBytesPerSecond);
}
