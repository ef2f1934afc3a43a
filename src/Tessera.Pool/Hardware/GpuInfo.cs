namespace Tessera.Pool.Hardware;

/// <summary>One GPU as discovered on a node.</summary>
public sealed record GpuInfo(
    int Index,
    string Name,
    long MemoryTotalBytes,
    long MemoryFreeBytes,
    string ComputeCapability,
    string DriverVersion,
    double UtilizationPercent);
