namespace Tessera.Pool.Client;

// The shapes of the REST API under /api (JSON, camelCase). Shared by the coordinator and the CLI.

public sealed record NodeView(
    string Id,
    string Name,
    string State,
    bool Drained,
    string Address,
    DateTimeOffset JoinedAt,
    DateTimeOffset? LastHeartbeat,
    bool Connected,
    CpuView Cpu,
    long RamTotalBytes,
    long RamFreeBytes,
    long DiskFreeBytes,
    IReadOnlyList<GpuView> Gpus,
    string Os,
    string AgentVersion,
    IReadOnlyDictionary<string, string>? Labels = null);

public sealed record CpuView(string Model, int LogicalCores, IReadOnlyList<string> Simd, double SpeedGBps, double BusyPercent);

public sealed record GpuView(int Index, string Name, long MemoryTotalBytes, long MemoryFreeBytes, string ComputeCapability, string DriverVersion, double UtilizationPercent, double SpeedGBps)
{
    /// <summary>The name deployments use for it on its node ("gpu0", ...): placements and device ids say NODE/DEVICE.</summary>
    public string Device { get; init; } = "gpu" + Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A device the planner can place work on: a node's CPU (with its RAM) or one of its GPUs.</summary>
public sealed record DeviceView(
    string NodeId,
    string NodeName,
    string NodeState,
    string Kind,
    int Index,
    string Name,
    long MemoryTotalBytes,
    long MemoryFreeBytes,
    double SpeedGBps)
{
    /// <summary>The pool's id of the device, NODE/DEVICE ("node_x/cpu", "node_x/gpu0"): what plans and placements name.</summary>
    public string Id { get; init; } = string.Empty;
}

/// <summary>A join token as /api/tokens lists it: never its secret. <see cref="MaxUses"/> null: no limit (a token of an earlier release).</summary>
public sealed record TokenView(string Id, string Description, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset? RevokedAt, int Uses, string Status,
    int? MaxUses = null, IReadOnlyDictionary<string, string>? Labels = null);

/// <summary>The body of POST /api/tokens: lifetime (default 24h, at most 30d), machines it may admit (default 1), labels for them.</summary>
public sealed record CreateTokenRequest(string? Ttl, string? Description, int? Uses = null, IReadOnlyDictionary<string, string>? Labels = null);

/// <summary>A token just made: the only time its text is shown.</summary>
public sealed record CreatedTokenView(string Id, string Token, DateTimeOffset ExpiresAt, string JoinCommand, int MaxUses = 1);

public sealed record EventView(long Id, DateTimeOffset At, string Kind, string? NodeId, string? FromState, string? ToState, string Message);

/// <summary>
/// A measured link. <paramref name="RttMs"/> is the median round trip, <paramref name="JitterP99Ms"/> the 99th percentile of
/// |round trip - median| (Tessera's jitter), <paramref name="Loss"/> the fraction of echoes unanswered within 1 s;
/// <paramref name="Error"/> says why the far end could not be measured (then it is unreachable from the near end).
/// </summary>
public sealed record LinkView(string FromNodeId, string ToNodeId, double RttMs, double JitterP99Ms, double BandwidthMbps, DateTimeOffset MeasuredAt,
    double RttP99Ms = 0, double Loss = 0, int Samples = 0, string? Error = null);

/// <summary>
/// A link as the deployments' pipelines showed it: the latency a decoded token spent on it (both ways, the transfer at
/// the measured bandwidth excluded), the median of recent samples; what the planner uses in place of the probe's RTT.
/// </summary>
public sealed record ObservedHopView(string NodeA, string NodeB, double LatencyMs);

/// <summary>What an on-demand measurement did: links asked for, measured, found unreachable, and agents that did not answer in time.</summary>
public sealed record LinkRoundView(int Asked, int Measured, int Unreachable, int NotAnswered);

public sealed record HealthView(string Status, string PoolId, string CaSha256, string JoinAddress);

public sealed record ErrorView(string Error);

/// <summary>The pool's size and load: nodes, heartbeats applied since the coordinator started, and nodes per state (ready, down, ...).</summary>
public sealed record StatsView(int Nodes, long HeartbeatsApplied)
{
    public IReadOnlyDictionary<string, int> States { get; init; } = new Dictionary<string, int>();
}

/// <summary>A new admin key: shown once. <paramref name="Path"/> is where the coordinator wrote it on its machine.</summary>
public sealed record RotatedAdminKeyView(string Key, string Path);
