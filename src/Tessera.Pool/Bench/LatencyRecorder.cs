namespace Tessera.Pool.Bench;

/// <summary>Collects latencies (thread-safe) and reports percentiles.</summary>
public sealed class LatencyRecorder
{
    private readonly List<double> _millis = [];
    private readonly Lock _lock = new();

    public bool Enabled { get; set; }

    public void Record(TimeSpan latency)
    {
        if (!Enabled)
            return;
        lock (_lock)
            _millis.Add(latency.TotalMilliseconds);
    }

    public int Count
    {
        get { lock (_lock) return _millis.Count; }
    }

    /// <summary>The p-th percentile (0..100) in milliseconds; NaN when empty.</summary>
    public double Percentile(double p)
    {
        lock (_lock)
            return Percentile(_millis, p);
    }

    internal static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0)
            return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }
}
