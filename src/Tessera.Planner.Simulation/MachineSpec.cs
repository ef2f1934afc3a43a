namespace Tessera.Planner.Simulation;

/// <summary>A kind of machine in a pool: its devices (a CPU's memory and its GPUs) and where it lives.</summary>
/// <param name="Name">Short name for tables, e.g. "desktop-4090".</param>
/// <param name="Class">Home, lab or cloud: links and churn follow from it.</param>
/// <param name="Devices">Its devices, the CPU first.</param>
public sealed record MachineSpec(string Name, NodeClass Class, IReadOnlyList<DeviceSpec> Devices);
