using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>
/// One device of the catalogue, from its maker's public specification: what the planner is given for it in a
/// simulated pool (free memory, memory bandwidth, FLOP/s).
/// </summary>
/// <param name="Name">Model name, e.g. "RTX 4090".</param>
/// <param name="Kind">CPU memory or GPU.</param>
/// <param name="MemoryBytes">Memory the device offers a deployment (before the planner's headroom).</param>
/// <param name="BandwidthGBps">Peak memory bandwidth in GB/s from the specification (a probe measures 60-90 % of it; every system in the simulation gets the same figure, so comparisons hold).</param>
/// <param name="FlopsPerSecond">Peak FLOP/s from the specification (dense, the format decoding uses); decoding is bandwidth-bound, so this rarely decides.</param>
/// <param name="Source">Where the figures come from, or what is assumed.</param>
public sealed record DeviceSpec(string Name, DeviceKind Kind, long MemoryBytes, double BandwidthGBps, double FlopsPerSecond, string Source);
