namespace Tessera.Distribution;

/// <summary>
/// Counts the bytes of one transfer and reports them through an <see cref="IProgress{T}"/> at most every
/// <see cref="Interval"/> (always on completion). Thread-safe; time comes from the injected clock.
/// </summary>
internal sealed class ProgressMeter
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private readonly IProgress<TransferProgress>? _progress;
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly string _what;
    private long _total;
    private long _done;
    private long _transferred;
    private long _lastReport;

    public ProgressMeter(string what, long total, long alreadyDone, IProgress<TransferProgress>? progress, TimeProvider time)
    {
        _what = what;
        _total = total;
        _done = alreadyDone;
        _progress = progress;
        _time = time;
        _start = time.GetTimestamp();
        _lastReport = long.MinValue;
    }

    public long Done => Interlocked.Read(ref _done);

    public long Total
    {
        get => Interlocked.Read(ref _total);
        set => Interlocked.Exchange(ref _total, value);
    }

    /// <summary>Bytes received from the network (positive) or discarded after a failure (negative).</summary>
    public void Add(long bytes)
    {
        Interlocked.Add(ref _done, bytes);
        if (bytes > 0)
            Interlocked.Add(ref _transferred, bytes);
        Report(force: false);
    }

    /// <summary>Resets the done count (a download restarting from zero).</summary>
    public void SetDone(long bytes)
    {
        Interlocked.Exchange(ref _done, bytes);
        Report(force: true);
    }

    public TransferProgress Snapshot()
    {
        var elapsed = _time.GetElapsedTime(_start).TotalSeconds;
        var rate = elapsed > 0 ? Interlocked.Read(ref _transferred) / elapsed : 0;
        return new TransferProgress(_what, Done, Total, rate);
    }

    public void Report(bool force)
    {
        if (_progress is null)
            return;
        var now = _time.GetTimestamp();
        var last = Interlocked.Read(ref _lastReport);
        if (!force && last != long.MinValue && _time.GetElapsedTime(last, now) < Interval)
            return;
        if (!force && Interlocked.CompareExchange(ref _lastReport, now, last) != last)
            return;
        Interlocked.Exchange(ref _lastReport, now);
        _progress.Report(Snapshot());
    }
}
