namespace Tessera.Pool.Membership;

/// <summary>
/// A node as the pool's other parts (the deployment controller) see it at one instant: its state as an enum, whether
/// its agent is connected, where it connects from, and what it offers.
/// </summary>
/// <param name="Address">The address its agent connects from (empty before its first connection).</param>
/// <param name="RamFreeBytes">Free memory it reported last.</param>
/// <param name="CpuSpeedGBps">Its CPU's measured memory-bound speed; 0 when not measured.</param>
public sealed record PoolNode(string Id, string Name, NodeState State, bool Drained, bool Connected, string Address, long RamFreeBytes, double CpuSpeedGBps)
{
    /// <summary>HOST:PORT of its agent's link probe as the agent advertised it (any-address hosts included); empty: none.</summary>
    public string ProbeEndpoint { get; init; } = string.Empty;

    /// <summary>Its GPUs as its agent reported them, with their free memory as last sampled.</summary>
    public IReadOnlyList<PoolGpu> Gpus { get; init; } = [];

    /// <summary>When its last heartbeat arrived; null before the first.</summary>
    public DateTimeOffset? LastHeartbeat { get; init; }

    /// <summary>Its deployments' stages as its last heartbeat described them; none while its agent is not connected.</summary>
    public IReadOnlyList<StageFigures> Stages { get; init; } = [];

    /// <summary>Connected and able to run what it runs (ready, or draining while its work moves away).</summary>
    public bool IsServing => Connected && State is NodeState.Ready or NodeState.Draining;

    /// <summary>Connected, ready and not drained: new work may be placed on it.</summary>
    public bool IsPlaceable => Connected && State == NodeState.Ready && !Drained;
}

/// <summary>A GPU of a node.</summary>
/// <param name="Device">The name stages use for it on its node ("gpu0", ...): the pool's device id is NODE/DEVICE.</param>
/// <param name="SpeedGBps">Its measured memory bandwidth; 0 when its agent could not measure it (the backend cannot use it).</param>
public sealed record PoolGpu(string Device, string Name, long MemoryTotalBytes, long MemoryFreeBytes, double SpeedGBps);
