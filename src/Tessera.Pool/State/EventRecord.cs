namespace Tessera.Pool.State;

/// <summary>One entry of the pool's event log (every node state transition, joins, token changes).</summary>
public sealed record EventRecord(
    long Id,
    DateTimeOffset At,
    string Kind,
    string? NodeId,
    string? FromState,
    string? ToState,
    string Message);
