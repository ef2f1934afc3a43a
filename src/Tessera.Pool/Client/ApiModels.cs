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
    string AgentVersion);

public sealed record CpuView(string Model, int LogicalCores, IReadOnlyList<string> Simd, double SpeedGBps, double BusyPercent);

public sealed record GpuView(int Index, string Name, long MemoryTotalBytes, long MemoryFreeBytes, string ComputeCapability, string DriverVersion, double UtilizationPercent, double SpeedGBps);

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
    double SpeedGBps);

public sealed record TokenView(string Id, string Description, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset? RevokedAt, int Uses, string Status);

public sealed record CreateTokenRequest(string? Ttl, string? Description);

public sealed record CreatedTokenView(string Id, string Token, DateTimeOffset ExpiresAt, string JoinCommand);

public sealed record EventView(long Id, DateTimeOffset At, string Kind, string? NodeId, string? FromState, string? ToState, string Message);

public sealed record LinkView(string FromNodeId, string ToNodeId, double RttMs, double JitterP99Ms, double BandwidthMbps, DateTimeOffset MeasuredAt);

public sealed record HealthView(string Status, string PoolId, string CaSha256, string JoinAddress);

public sealed record ErrorView(string Error);

public sealed record StatsView(int Nodes, long HeartbeatsApplied);
