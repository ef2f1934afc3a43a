namespace Tessera.Pool.State;

/// <summary>The latest heartbeat of a node, written in batches.</summary>
public sealed record HeartbeatUpdate(string NodeId, DateTimeOffset At, string Address, Protocol.Metrics? Metrics);
