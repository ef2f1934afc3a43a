namespace Tessera.Deploy;

/// <summary>
/// When one deployment looks for a better plan. Pure: no clock of its own, the caller passes the time in (any
/// monotonic origin). A check comes every <c>interval</c>, and sooner, after <c>settle</c>, when a node becomes
/// ready (after <c>settle</c>) or a node of the plan turns out slower or faster than the plan assumed (at once); but never within <c>interval</c> of the plan's last change (its deployment, a recovery, a drain or an
/// improvement), nor within <c>backoff</c> of a move that failed. With the planner's margins this is the controller's
/// guard against flapping: a plan that just changed stays put for a while, whatever the pool does.
/// </summary>
internal sealed class ImproveTimer
{
    private const string SpeedKey = "speed:";
    private readonly TimeSpan _interval;
    private readonly TimeSpan _settle;
    private readonly TimeSpan _backoff;
    private readonly List<(string Key, string Words)> _triggers = [];
    private TimeSpan _lastChange;
    private TimeSpan _nextCheck;
    private TimeSpan _retryAt;

    /// <param name="now">The time the plan came into force (deployed, or restored after a restart).</param>
    public ImproveTimer(TimeSpan now, TimeSpan interval, TimeSpan settle, TimeSpan backoff)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(settle, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(backoff, TimeSpan.Zero);
        _interval = interval;
        _settle = settle;
        _backoff = backoff;
        _lastChange = now;
        _nextCheck = now + interval;
        _retryAt = now;
    }

    /// <summary>What made the next check come early, in words ("node b returned"), or null for a periodic one.</summary>
    public string? Trigger => _triggers.Count == 0 ? null : string.Join(", ", _triggers.Select(t => t.Words));

    /// <summary>Whether a change of a node's speed (<see cref="SpeedChanged"/>) is among what made the next check come early.</summary>
    public bool BySpeed => _triggers.Exists(t => t.Key.StartsWith(SpeedKey, StringComparison.Ordinal));

    /// <summary>When the plan last changed (or came into force).</summary>
    public TimeSpan LastChange => _lastChange;

    /// <summary>The earliest time the next check may run.</summary>
    public TimeSpan DueAt => Max(_nextCheck, Max(_lastChange + _interval, _retryAt));

    public bool IsDue(TimeSpan now) => now >= DueAt;

    /// <summary>The plan changed (any reason): the next improvement waits a whole interval from now.</summary>
    public void PlanChanged(TimeSpan now) => _lastChange = Max(_lastChange, now);

    /// <summary>A node became ready (joined or came back): check soon, once it has settled.</summary>
    public void NodeReady(TimeSpan now, string why)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(why);
        Soon(now + _settle, why, why);
    }

    /// <summary>
    /// A device of the plan runs at another speed than the plan assumed (<paramref name="deviceId"/>, <paramref name="why"/>
    /// in words): check as soon as the interval since the last change allows. A later word for the same device replaces
    /// the earlier one, so a speed noticed on every reading is named once.
    /// </summary>
    public void SpeedChanged(TimeSpan now, string deviceId, string why)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        ArgumentException.ThrowIfNullOrWhiteSpace(why);
        Soon(now, SpeedKey + deviceId, why);
    }

    private void Soon(TimeSpan at, string key, string words)
    {
        if (at < _nextCheck)
            _nextCheck = at;
        var i = _triggers.FindIndex(t => string.Equals(t.Key, key, StringComparison.Ordinal));
        if (i >= 0)
            _triggers[i] = (key, words);
        else
            _triggers.Add((key, words));
    }

    /// <summary>A check ran (whatever it found): the next periodic one is an interval away.</summary>
    public void Checked(TimeSpan now)
    {
        _nextCheck = now + _interval;
        _triggers.Clear();
    }

    /// <summary>A move to a better plan failed: no new try before the back-off has passed.</summary>
    public void MoveFailed(TimeSpan now) => _retryAt = now + _backoff;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
