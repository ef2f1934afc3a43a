namespace Tessera.Pool.Membership;

/// <summary>
/// Phi-accrual failure detector (Hayashibara et al.) for one monitored node. It has no clock
/// and no I/O: callers pass the instants of heartbeats and of evaluations. Not thread-safe;
/// the owner serialises access.
/// </summary>
/// <remarks>
/// phi = -log10(1 - F(elapsed)) where F is the normal CDF with the mean and standard deviation
/// of recent inter-arrival times (mean shifted by <see cref="FailureDetectorOptions.AcceptableHeartbeatPause"/>,
/// deviation clamped below by <see cref="FailureDetectorOptions.MinStdDeviation"/>). F uses the
/// logistic approximation used by Akka and Orleans.
/// </remarks>
internal sealed class PhiAccrualFailureDetector
{
    /// <summary>Phi reported when the elapsed time is so large that 1 - F underflows.</summary>
    public const double MaxPhi = 100.0;

    private readonly FailureDetectorOptions _options;
    private readonly double[] _intervalsMs;
    private int _count;
    private int _next;
    private double _sum;
    private double _sumOfSquares;

    public PhiAccrualFailureDetector(FailureDetectorOptions options, DateTimeOffset firstHeartbeat)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxSampleSize, 2, nameof(options.MaxSampleSize));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.HeartbeatInterval, TimeSpan.Zero, nameof(options.HeartbeatInterval));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.SuspectThreshold, 0.0, nameof(options.SuspectThreshold));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.DownThreshold, options.SuspectThreshold, nameof(options.DownThreshold));
        _options = options;
        _intervalsMs = new double[options.MaxSampleSize];
        LastHeartbeat = firstHeartbeat;

        // Seed with the expected interval (mean = interval, deviation = interval / 4) so that the
        // first evaluations are meaningful before real samples exist.
        var expected = options.HeartbeatInterval.TotalMilliseconds;
        var spread = expected / 4;
        Add(expected - spread);
        Add(expected + spread);
    }

    /// <summary>The instant of the most recent heartbeat.</summary>
    public DateTimeOffset LastHeartbeat { get; private set; }

    public int SampleCount => _count;

    public double MeanIntervalMs => _sum / _count;

    public double StdDeviationMs => Math.Sqrt(Math.Max(0, (_sumOfSquares / _count) - (MeanIntervalMs * MeanIntervalMs)));

    /// <summary>Records a heartbeat that arrived at <paramref name="at"/>. Out-of-order instants are ignored.</summary>
    public void Heartbeat(DateTimeOffset at)
    {
        if (at <= LastHeartbeat)
            return;
        Add((at - LastHeartbeat).TotalMilliseconds);
        LastHeartbeat = at;
    }

    /// <summary>The suspicion level at <paramref name="now"/>: 0 just after a heartbeat, growing with silence.</summary>
    public double Phi(DateTimeOffset now)
    {
        var elapsedMs = Math.Max(0, (now - LastHeartbeat).TotalMilliseconds);
        var mean = MeanIntervalMs + _options.AcceptableHeartbeatPause.TotalMilliseconds;
        var std = Math.Max(StdDeviationMs, _options.MinStdDeviation.TotalMilliseconds);
        return ComputePhi(elapsedMs, mean, std);
    }

    /// <summary>Turns phi and the silence into a verdict, with <see cref="FailureDetectorOptions.MaxSilence"/> as the hard bound.</summary>
    public LivenessVerdict Evaluate(DateTimeOffset now)
    {
        if (now - LastHeartbeat >= _options.MaxSilence)
            return LivenessVerdict.Down;
        var phi = Phi(now);
        if (phi >= _options.DownThreshold)
            return LivenessVerdict.Down;
        return phi >= _options.SuspectThreshold ? LivenessVerdict.Suspect : LivenessVerdict.Alive;
    }

    /// <summary>phi for an elapsed time given the mean and deviation of intervals (all in ms).</summary>
    internal static double ComputePhi(double elapsedMs, double meanMs, double stdDeviationMs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(stdDeviationMs, 0.0);
        var y = (elapsedMs - meanMs) / stdDeviationMs;
        var e = Math.Exp(-y * (1.5976 + (0.070566 * y * y)));
        double phi;
        if (elapsedMs > meanMs)
            phi = -Math.Log10(e / (1.0 + e));
        else
            phi = -Math.Log10(1.0 - (1.0 / (1.0 + e)));
        return double.IsFinite(phi) ? Math.Min(phi, MaxPhi) : MaxPhi;
    }

    private void Add(double intervalMs)
    {
        if (_count == _intervalsMs.Length)
        {
            var old = _intervalsMs[_next];
            _sum -= old;
            _sumOfSquares -= old * old;
        }
        else
        {
            _count++;
        }
        _intervalsMs[_next] = intervalMs;
        _sum += intervalMs;
        _sumOfSquares += intervalMs * intervalMs;
        _next = (_next + 1) % _intervalsMs.Length;
    }
}
