namespace Tessera.Pool.Membership;

/// <summary>Parameters of the phi-accrual failure detector and of the verdicts drawn from phi.</summary>
public sealed record FailureDetectorOptions
{
    /// <summary>How often agents send heartbeats.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Phi at or above which a node is suspect.</summary>
    public double SuspectThreshold { get; init; } = 1.0;

    /// <summary>Phi at or above which a node is down.</summary>
    public double DownThreshold { get; init; } = 8.0;

    /// <summary>Lower bound on the standard deviation of heartbeat intervals, so a very regular sender is not declared dead by one slightly late beat.</summary>
    public TimeSpan MinStdDeviation { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Extra pause tolerated on top of the mean interval (GC pauses, scheduling).</summary>
    public TimeSpan AcceptableHeartbeatPause { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Hard bound: a node silent this long is down whatever phi says (phi alone never declares death after a noisy history).</summary>
    public TimeSpan MaxSilence { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Number of most recent intervals kept.</summary>
    public int MaxSampleSize { get; init; } = 100;

    public static FailureDetectorOptions Default { get; } = new();
}
