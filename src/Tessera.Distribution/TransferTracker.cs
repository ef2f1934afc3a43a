using System.Collections.Concurrent;

namespace Tessera.Distribution;

/// <summary>
/// The transfers a node is running or ran recently, for its API (<see cref="ContentStoreEndpoints.MapTransferProgress"/>)
/// and dashboards: pass <see cref="Track"/>'s reporter as the <see cref="IProgress{T}"/> of a transfer, then call
/// <see cref="Complete"/> or <see cref="Fail"/>. Thread-safe; keeps the last <see cref="MaxFinished"/> finished ones.
/// </summary>
public sealed class TransferTracker
{
    public const int MaxFinished = 32;

    private readonly ConcurrentDictionary<string, TransferStatus> _transfers = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public TransferTracker(TimeProvider? timeProvider = null) => _time = timeProvider ?? TimeProvider.System;

    /// <summary>Starts tracking a transfer under <paramref name="id"/> (e.g. the hash or hf:// address) and returns its reporter.</summary>
    public IProgress<TransferProgress> Track(string id, string? node = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        var now = _time.GetUtcNow();
        _transfers[id] = new TransferStatus(id, node, TransferState.Running, 0, 0, 0, null, now, now);
        return new Reporter(this, id);
    }

    public void Complete(string id) => Finish(id, TransferState.Completed, null);

    public void Fail(string id, string error) => Finish(id, TransferState.Failed, error);

    /// <summary>Every tracked transfer, running ones first, then the most recently updated.</summary>
    public IReadOnlyList<TransferStatus> Snapshot() =>
        _transfers.Values.OrderBy(t => t.State == TransferState.Running ? 0 : 1).ThenByDescending(t => t.UpdatedAt).ToList();

    public bool TryGet(string id, out TransferStatus status) => _transfers.TryGetValue(id, out status!);

    private void Update(string id, TransferProgress progress)
    {
        var now = _time.GetUtcNow();
        _transfers.AddOrUpdate(id,
            _ => new TransferStatus(id, null, TransferState.Running, progress.BytesDone, progress.TotalBytes, progress.BytesPerSecond, null, now, now),
            (_, old) => old with { BytesDone = progress.BytesDone, TotalBytes = progress.TotalBytes, BytesPerSecond = progress.BytesPerSecond, UpdatedAt = now });
    }

    private void Finish(string id, TransferState state, string? error)
    {
        var now = _time.GetUtcNow();
        _transfers.AddOrUpdate(id,
            _ => new TransferStatus(id, null, state, 0, 0, 0, error, now, now),
            (_, old) => old with { State = state, Error = error, UpdatedAt = now, BytesDone = state == TransferState.Completed ? old.TotalBytes : old.BytesDone });
        var finished = _transfers.Values.Where(t => t.State != TransferState.Running).OrderByDescending(t => t.UpdatedAt).Skip(MaxFinished).ToList();
        foreach (var old in finished)
            _transfers.TryRemove(old.Id, out _);
    }

    private sealed class Reporter(TransferTracker tracker, string id) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => tracker.Update(id, value);
    }
}

public enum TransferState
{
    Running,
    Completed,
    Failed,
}

/// <summary>One transfer as the API shows it.</summary>
public sealed record TransferStatus(string Id, string? Node, TransferState State, long BytesDone, long TotalBytes, double BytesPerSecond, string? Error,
    DateTimeOffset StartedAt, DateTimeOffset UpdatedAt)
{
    public double Fraction => TotalBytes <= 0 ? (State == TransferState.Completed ? 1 : 0) : Math.Clamp((double)BytesDone / TotalBytes, 0, 1);
}
