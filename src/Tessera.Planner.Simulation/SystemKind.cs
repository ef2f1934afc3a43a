namespace Tessera.Planner.Simulation;

/// <summary>The systems a simulation compares on the same pools.</summary>
public enum SystemKind
{
    /// <summary>Tessera's planner (PoolPlanner.Plan, Replan, Improve).</summary>
    Tessera,

    /// <summary>llama.cpp RPC: an even split of layers over the devices chosen; no failover.</summary>
    LlamaCppRpc,

    /// <summary>exo: layers in proportion to memory around a ring; re-partitions when the ring changes.</summary>
    ExoRing,

    /// <summary>Petals: servers take the blocks with the fewest copies; clients route through the fastest chain.</summary>
    PetalsSwarm,
}

public static class SystemKinds
{
    public static IReadOnlyList<SystemKind> All { get; } = [SystemKind.Tessera, SystemKind.LlamaCppRpc, SystemKind.ExoRing, SystemKind.PetalsSwarm];

    /// <summary>The name in tables, JSON and plots.</summary>
    public static string Label(SystemKind kind) => kind switch
    {
        SystemKind.Tessera => "tessera",
        SystemKind.LlamaCppRpc => "llama.cpp-rpc",
        SystemKind.ExoRing => "exo-ring",
        _ => "petals",
    };
}
