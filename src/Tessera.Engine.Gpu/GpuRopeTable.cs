using ILGPU;
using ILGPU.Runtime;
using Tessera.Engine.Model;

namespace Tessera.Engine.Gpu;

/// <summary>A <see cref="RopeTable"/>'s angles in device memory: the same cos and sin values, so rotations match the host's.</summary>
public sealed class GpuRopeTable : IDisposable
{
    public GpuRopeTable(GpuDevice device, RopeTable table)
    {
        Positions = table.Positions;
        Pairs = table.Pairs;
        NeoX = table.Kind != RopeKind.Normal;
        Cos = device.Accelerator.Allocate1D<float>(table.CosTable.Length);
        Sin = device.Accelerator.Allocate1D<float>(table.SinTable.Length);
        Cos.View.AsContiguous().CopyFromCPU(table.CosTable);
        Sin.View.AsContiguous().CopyFromCPU(table.SinTable);
    }

    public int Positions { get; }
    public int Pairs { get; }

    /// <summary>Pairs are value i and i + dims / 2 (NeoX style), not adjacent values.</summary>
    public bool NeoX { get; }

    public MemoryBuffer1D<float, Stride1D.Dense> Cos { get; }
    public MemoryBuffer1D<float, Stride1D.Dense> Sin { get; }

    public void Dispose()
    {
        Cos.Dispose();
        Sin.Dispose();
    }
}
