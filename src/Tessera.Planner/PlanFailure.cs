namespace Tessera.Planner;

/// <summary>
/// Why a model cannot be placed, in words a user can act on: the memory the model needs (weights, KV cache for
/// context x sessions, scratch) against what the usable devices have free, and where it is short.
/// </summary>
public sealed record PlanFailure
{
    /// <summary>Memory the model needs in total (one replica's worth, or all replicas' when replicas are the problem).</summary>
    public required long RequiredBytes { get; init; }

    /// <summary>Memory the usable devices can give (free less headroom).</summary>
    public required long AvailableBytes { get; init; }

    /// <summary>How much memory is missing; 0 when the total would fit but no split does (see <see cref="Shortfalls"/>).</summary>
    public long MissingBytes => Math.Max(0, RequiredBytes - AvailableBytes);

    /// <summary>The largest shortfalls: pieces that fit on no device, the largest first.</summary>
    public IReadOnlyList<DeviceShortfall> Shortfalls { get; init; } = [];

    /// <summary>The whole message, e.g. "needs 14.2 GB, the pool has 11.0 GB free: missing 3.2 GB; add a node or lower --context/--max-sessions".</summary>
    public required string Message { get; init; }

    public override string ToString() => Message;
}
