namespace Tessera.Serving;

/// <summary>
/// Decides when a pipeline has stopped making progress, from the steps it has completed: a step is work sent into the
/// pipeline until its sampled token comes back. It learns the step time (the p99 of the silences between the last
/// <see cref="StallDetectorOptions.Window"/> answers) and what one position of a prompt costs (the p99 over the last
/// prompts answered; a whole step until one was), and declares a stall when work is
/// in flight and nothing has come back for longer than
/// <c>max(Floor, Multiplier × max(p99 step, p99 per position × positions in flight))</c>. The per-position term scales
/// the deadline with a long prompt (or a replay) in flight, so a prefill is not taken for a stall; an idle pipeline
/// (nothing in flight) never stalls, and nothing is declared before <see cref="StallDetectorOptions.MinSamples"/> steps
/// were measured. The first answer on each lane is not measured: it includes opening the lane through every stage
/// and, in a fresh process, compiling the code paths, which say nothing about the step time (one such answer of a
/// few hundred ms would otherwise be the p99 of the first few hundred steps).
/// Pure: no I/O, time from the injected <see cref="TimeProvider"/>. Not thread-safe (the driver calls it under its lock).
/// </summary>
public sealed class StallDetector
{
    private readonly StallDetectorOptions _options;
    private readonly TimeProvider _time;
    private readonly double[] _intervals;
    private readonly double[] _perPosition;
    private int _count;
    private int _next;
    private int _prefills;
    private int _nextPrefill;
    private long _inFlight;
    private long _lastProgress;
    private (double Interval, double PerPosition)? _p99;
    private bool _laneAnswered;

    /// <summary>A detector with <paramref name="options"/> (defaults when null) reading <paramref name="time"/>.</summary>
    public StallDetector(StallDetectorOptions? options = null, TimeProvider? time = null)
    {
        _options = options ?? new StallDetectorOptions();
        _options.Validate();
        _time = time ?? TimeProvider.System;
        _intervals = new double[_options.Window];
        _perPosition = new double[_options.Window];
    }

    /// <summary>Positions sent and not yet answered.</summary>
    public long PositionsInFlight => _inFlight;

    /// <summary>Steps measured so far (at most <see cref="StallDetectorOptions.Window"/> are kept).</summary>
    public int Samples => _count;

    /// <summary>Work of <paramref name="positions"/> positions entered the pipeline. An idle pipeline's silence starts counting now.</summary>
    public void Sent(int positions)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(positions);
        if (positions == 0)
            return;
        if (_inFlight == 0)
            _lastProgress = _time.GetTimestamp();
        _inFlight += positions;
    }

    /// <summary>
    /// An answer came back for <paramref name="positions"/> positions in flight (a prompt's first token answers the
    /// whole prompt): one step measured, from the last progress (or from when an idle pipeline was sent work) to now.
    /// </summary>
    public void Completed(int positions)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(positions);
        if (positions == 0)
            return;
        var now = _time.GetTimestamp();
        if (_inFlight > 0 && !_laneAnswered)
            _laneAnswered = true;
        else if (_inFlight > 0)
        {
            var seconds = _time.GetElapsedTime(_lastProgress, now).TotalSeconds;
            _intervals[_next] = seconds;
            _next = (_next + 1) % _intervals.Length;
            _count = Math.Min(_count + 1, _intervals.Length);
            if (positions > 1)
            {
                // A prompt (or a replay) answered: what a position costs when many go at once.
                _perPosition[_nextPrefill] = seconds / positions;
                _nextPrefill = (_nextPrefill + 1) % _perPosition.Length;
                _prefills = Math.Min(_prefills + 1, _perPosition.Length);
            }
            _p99 = null;
        }
        _inFlight = Math.Max(0, _inFlight - positions);
        _lastProgress = now;
    }

    /// <summary>Work of <paramref name="positions"/> positions will not be answered (its session was closed): it no longer counts as in flight.</summary>
    public void Abandoned(int positions)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(positions);
        _inFlight = Math.Max(0, _inFlight - positions);
    }

    /// <summary>A new lane: nothing is in flight on it yet. The measured steps are kept (same model, similar stages).</summary>
    public void Reset()
    {
        _inFlight = 0;
        _laneAnswered = false;
    }

    /// <summary>How long the pipeline may stay silent with the work in flight now; null while nothing is in flight or too few steps were measured.</summary>
    public TimeSpan? Deadline
    {
        get
        {
            if (_inFlight == 0 || _count < _options.MinSamples)
                return null;
            // Before any prompt was measured, each position is taken to cost a whole step: slow, so never a false alarm.
            var (interval, perPosition) = _p99 ??= (Percentile99(_intervals, _count), _prefills > 0 ? Percentile99(_perPosition, _prefills) : Percentile99(_intervals, _count));
            var seconds = _options.Multiplier * Math.Max(interval, perPosition * _inFlight);
            return TimeSpan.FromSeconds(Math.Max(_options.Floor.TotalSeconds, seconds));
        }
    }

    /// <summary>Whether the pipeline is stalled now: work is in flight and nothing came back within <see cref="Deadline"/>.</summary>
    public StallCheck Check()
    {
        var deadline = Deadline;
        if (deadline is null)
            return new StallCheck(false, TimeSpan.Zero, null, 0);
        var silence = _time.GetElapsedTime(_lastProgress);
        return new StallCheck(silence > deadline.Value, silence, deadline, _lastProgress);
    }

    /// <summary>The 99th percentile (nearest rank) of the first <paramref name="count"/> values.</summary>
    internal static double Percentile99(double[] values, int count)
    {
        var sorted = values.AsSpan(0, count).ToArray();
        Array.Sort(sorted);
        var rank = (int)Math.Ceiling(0.99 * count) - 1;
        return sorted[Math.Clamp(rank, 0, count - 1)];
    }
}

/// <summary>
/// A <see cref="StallDetector"/>'s verdict: stalled or not, how long the pipeline has been silent, the deadline (null
/// when none applies), and the timestamp of the last progress (when the silence began; 0 without a deadline).
/// </summary>
public readonly record struct StallCheck(bool Stalled, TimeSpan Silence, TimeSpan? Deadline, long SilentSince);
