using Tessera.Pool.Membership;

namespace Tessera.Pool.State;

/// <summary>A node as stored: identity, state, and the latest hardware and metrics reported.</summary>
public sealed record NodeRecord(
    string Id,
    string Name,
    NodeState State,
    bool Drained,
    string Address,
    DateTimeOffset JoinedAt,
    DateTimeOffset? LastHeartbeat,
    string CertificateFingerprint,
    Protocol.Hardware Hardware,
    Protocol.Metrics? Metrics,
    IReadOnlyDictionary<string, string>? Labels = null);
