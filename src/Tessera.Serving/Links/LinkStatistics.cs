namespace Tessera.Serving;

/// <summary>
/// What one measurement of a link found. Round-trip times are over the stage transport (an HTTP/2 message each way on
/// an open mutual-TLS connection), so they include what a token's hop costs besides the wire.
/// </summary>
/// <param name="RttP50Ms">Median round-trip time, in milliseconds.</param>
/// <param name="RttP99Ms">99th percentile round-trip time (the largest sample when there are fewer than 100).</param>
/// <param name="JitterMs">
/// Jitter, as Tessera defines it everywhere (planner, <c>tessera links</c>, the API): the 99th percentile of the
/// absolute deviation of the round-trip times from their median, in milliseconds.
/// </param>
/// <param name="Loss">
/// Fraction of echoes not answered within the echo timeout. TCP retransmits lost packets, so on this transport a lost
/// packet shows as a late answer: loss here counts answers later than the timeout, and smaller losses show in the p99.
/// </param>
/// <param name="BandwidthBytesPerSecond">Throughput of a bounded transfer, one round trip deducted; 0 when none was made.</param>
/// <param name="Samples">Echoes answered in time.</param>
/// <param name="Error">Why the link could not be measured (nothing answered, TLS refused); null when it was.</param>
public sealed record LinkMeasurement(double RttP50Ms, double RttP99Ms, double JitterMs, double Loss, double BandwidthBytesPerSecond, int Samples, string? Error = null)
{
    /// <summary>Whether the peer answered at all.</summary>
    public bool Reachable => Error is null;

    public static LinkMeasurement Unreachable(string error) => new(0, 0, 0, 1, 0, 0, error);
}

/// <summary>Percentiles, jitter and loss from round-trip samples. Pure.</summary>
public static class LinkStatistics
{
    /// <summary>
    /// Summarises <paramref name="rttMs"/> (the answered echoes) out of <paramref name="sent"/> echoes sent, with the
    /// transfer's throughput. Percentiles are nearest-rank: p99 of fewer than 100 samples is the largest.
    /// </summary>
    public static LinkMeasurement Summarise(ReadOnlySpan<double> rttMs, int sent, double bandwidthBytesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sent, rttMs.Length);
        if (rttMs.IsEmpty)
            return LinkMeasurement.Unreachable(sent == 0 ? "no echoes were sent" : $"none of {sent} echoes was answered in time");
        var sorted = rttMs.ToArray();
        Array.Sort(sorted);
        var median = Percentile(sorted, 0.50);
        var deviations = new double[sorted.Length];
        for (var i = 0; i < sorted.Length; i++)
            deviations[i] = Math.Abs(sorted[i] - median);
        Array.Sort(deviations);
        var loss = sent == 0 ? 0 : (double)(sent - rttMs.Length) / sent;
        return new LinkMeasurement(median, Percentile(sorted, 0.99), Percentile(deviations, 0.99), loss, bandwidthBytesPerSecond, rttMs.Length);
    }

    /// <summary>Nearest-rank percentile of ascending <paramref name="sorted"/>.</summary>
    public static double Percentile(ReadOnlySpan<double> sorted, double fraction)
    {
        if (sorted.IsEmpty)
            return 0;
        var rank = (int)Math.Ceiling(fraction * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
