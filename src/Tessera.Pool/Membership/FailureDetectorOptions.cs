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

    /// <summary>
    /// The most heartbeats a second the whole pool is asked for. Up to this many nodes divided by
    /// <see cref="HeartbeatInterval"/> every agent beats at that interval; a larger pool asks agents that connect for a
    /// longer one (<see cref="IntervalFor"/>), so the coordinator's work per second stops growing with the pool, at the
    /// price of a slower verdict on a silent node (the detector learns the longer interval, see <see cref="ForInterval"/>).
    /// </summary>
    public double MaxHeartbeatsPerSecond { get; init; } = 2000;

    /// <summary>The longest interval a pool asks for, however large: bounds how long a dead node goes unnoticed.</summary>
    public TimeSpan MaxHeartbeatInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The step intervals are rounded up to, so agents of pools of similar size are told the same interval.</summary>
    public static readonly TimeSpan IntervalStep = TimeSpan.FromMilliseconds(250);

    public static FailureDetectorOptions Default { get; } = new();

    /// <summary>
    /// The heartbeat interval to ask of an agent in a pool of <paramref name="nodes"/> members: <see cref="HeartbeatInterval"/>
    /// while the pool's heartbeats stay within <see cref="MaxHeartbeatsPerSecond"/>, then nodes / that rate, rounded up to
    /// <see cref="IntervalStep"/>, at most <see cref="MaxHeartbeatInterval"/> (never below <see cref="HeartbeatInterval"/>).
    /// </summary>
    public TimeSpan IntervalFor(int nodes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nodes);
        var needed = TimeSpan.FromSeconds(nodes / MaxHeartbeatsPerSecond);
        if (needed <= HeartbeatInterval)
            return HeartbeatInterval;
        var rounded = TimeSpan.FromTicks((needed.Ticks + IntervalStep.Ticks - 1) / IntervalStep.Ticks * IntervalStep.Ticks);
        return rounded < MaxHeartbeatInterval ? rounded : MaxHeartbeatInterval > HeartbeatInterval ? MaxHeartbeatInterval : HeartbeatInterval;
    }

    /// <summary>
    /// These options for a node told to beat every <paramref name="interval"/>: the detector is seeded with that interval
    /// (it then learns the real one), and the hard bound <see cref="MaxSilence"/> stays at least three intervals, so a
    /// node is never declared down for missing fewer than three beats.
    /// </summary>
    public FailureDetectorOptions ForInterval(TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        if (interval == HeartbeatInterval)
            return this;
        var bound = interval * MinBeatsBeforeDown;
        return this with { HeartbeatInterval = interval, MaxSilence = bound > MaxSilence ? bound : MaxSilence };
    }

    /// <summary>Beats a node may miss before <see cref="MaxSilence"/> alone declares it down.</summary>
    public const int MinBeatsBeforeDown = 3;
}
