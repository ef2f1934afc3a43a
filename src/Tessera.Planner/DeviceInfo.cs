namespace Tessera.Planner;

/// <summary>One device (a CPU's memory or a GPU) of a node, as the pool measured it.</summary>
/// <param name="Id">Stable id, unique in the pool (e.g. "node-a/gpu0"). Ties are broken by ordinal order of ids.</param>
/// <param name="NodeId">Id of the node (machine) holding the device.</param>
/// <param name="NodeName">The node's name, for messages.</param>
/// <param name="Kind">CPU or GPU.</param>
/// <param name="FreeMemoryBytes">
/// Memory the deployment being planned may use on this device: free memory plus whatever that deployment's own
/// stages already hold there (so a stage that stays put still fits when re-planning). The planner keeps
/// <see cref="PlanRequest.MemoryHeadroomFraction"/> of it free.
/// </param>
/// <param name="MemoryBandwidthGBps">Measured memory bandwidth in GB/s (10^9 bytes/s): decode reads every weight once per token.</param>
/// <param name="FlopsPerSecond">Measured FLOP/s, when known; a stage is never predicted faster than its FLOPs allow.</param>
public sealed record DeviceInfo(
    string Id,
    string NodeId,
    string NodeName,
    DeviceKind Kind,
    long FreeMemoryBytes,
    double MemoryBandwidthGBps,
    double? FlopsPerSecond = null)
{
    public override string ToString() => $"{Id} on {NodeName}";
}
