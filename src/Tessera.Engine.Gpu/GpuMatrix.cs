using ILGPU;
using ILGPU.Runtime;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gpu;

/// <summary>A weight matrix copied into device memory, in the file's block layout (decode reads the blocks as they are).</summary>
public sealed class GpuMatrix : IDisposable
{
    /// <summary>The tensor types the device kernels compute (Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, the K-quants and BF16 through the dequantizing reference product).</summary>
    public static readonly GgmlType[] SupportedTypes =
        [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL,
         GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS];

    private GpuMatrix(MemoryBuffer1D<byte, Stride1D.Dense> data, GgmlType type, int rows, int cols, string name)
    {
        Data = data;
        Type = type;
        Rows = rows;
        Cols = cols;
        Name = name;
        RowBytes = (int)(data.Length / rows);
    }

    /// <summary>Bytes of one row in the file's layout.</summary>
    public int RowBytes { get; }

    public MemoryBuffer1D<byte, Stride1D.Dense> Data { get; }
    public GgmlType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public string Name { get; }

    /// <summary>
    /// Copies <paramref name="w"/> to <paramref name="device"/>. Throws <see cref="NotSupportedException"/> naming the
    /// type and what is supported when the kernels cannot compute it, and for matrices the CPU engine regrouped
    /// (saying to load from the file's memory map instead).
    /// </summary>
    public static unsafe GpuMatrix Upload(GpuDevice device, in WeightMatrix w)
    {
        if (Array.IndexOf(SupportedTypes, w.Type) < 0)
            throw new NotSupportedException($"Tensor {w.Name} is {w.Type}; the GPU kernels compute {string.Join(", ", SupportedTypes)} so far.");
        if (w.Layout != WeightLayout.Rows)
            throw new NotSupportedException($"Tensor {w.Name} was regrouped for the CPU's kernels ({w.Layout}, what --weights copy does); a GPU reads the file's layout and keeps its own copy on the device: leave --weights out, or use --weights map, with a GPU device.");
        var block = GgmlTypeInfo.BlockSize(w.Type);
        if (w.Cols % block != 0)
            throw new NotSupportedException($"Tensor {w.Name} has {w.Cols} columns, not whole blocks of {block}.");
        var bytes = w.RowBytes * w.Rows;
        var buffer = device.Accelerator.Allocate1D<byte>(bytes);
        try
        {
            buffer.View.CopyFromCPU(ref *(byte*)w.Data, bytes);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
        return new GpuMatrix(buffer, w.Type, w.Rows, w.Cols, w.Name);
    }

    public void Dispose() => Data.Dispose();
}
