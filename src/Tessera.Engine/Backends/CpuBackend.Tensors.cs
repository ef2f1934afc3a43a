using System.Numerics.Tensors;
using Tessera.Engine.Kernels;
using Tessera.Engine.Model;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Backends;

/// <summary>
/// <see cref="IComputeBackend"/>'s tensor operations on the CPU: the tensors are float arrays in host memory
/// (<see cref="HostBuffer"/>), so each operation is its span overload on their ranges; nothing is copied.
/// </summary>
public sealed partial class CpuBackend
{
    public BackendBuffer Allocate(int floats) => new HostBuffer(floats);

    public double MeasureReadBandwidthGBps() => MemoryBandwidth.MeasureReadGBps(Pool);

    public void Upload(ReadOnlySpan<float> source, in BackendTensor destination)
    {
        destination.RequireLength(source.Length, nameof(destination));
        source.CopyTo(HostBuffer.Span(destination));
    }

    public void Download(in BackendTensor source, Span<float> destination)
    {
        source.RequireLength(destination.Length, nameof(destination));
        HostBuffer.Span(source).CopyTo(destination);
    }

    public void Copy(in BackendTensor source, in BackendTensor destination)
    {
        destination.RequireLength(source.Length, nameof(destination));
        HostBuffer.Span(source).CopyTo(HostBuffer.Span(destination));
    }

    public void MatMul(in WeightMatrix w, in BackendTensor x, in BackendTensor y, int tokens) =>
        MatMul(w, HostBuffer.Span(x), HostBuffer.Span(y), tokens);

    public void MatMulGroup(ReadOnlySpan<WeightMatrix> weights, in BackendTensor x, in BackendTensor y, int tokens) =>
        MatMulGroup(weights, HostBuffer.Span(x), HostBuffer.Span(y), tokens);

    public void GetRows(in WeightMatrix w, ReadOnlySpan<int> rows, in BackendTensor output) => GetRows(w, rows, HostBuffer.Span(output));

    public void RmsNorm(in BackendTensor x, in BackendTensor weight, in BackendTensor y, int tokens, float eps) =>
        RmsNorm(HostBuffer.Span(x), HostBuffer.Span(weight), HostBuffer.Span(y), tokens, eps);

    public void SwiGlu(in BackendTensor gate, in BackendTensor up, in BackendTensor output) =>
        SwiGlu(HostBuffer.Span(gate), HostBuffer.Span(up), HostBuffer.Span(output));

    public void GeGlu(in BackendTensor gate, in BackendTensor up, in BackendTensor output) =>
        FloatKernels.GeGlu(HostBuffer.Span(gate), HostBuffer.Span(up), HostBuffer.Span(output));

    public void Scale(in BackendTensor x, float factor) => TensorPrimitives.Multiply(HostBuffer.Span(x), factor, HostBuffer.Span(x));

    public void SoftCap(in BackendTensor x, float cap) => FloatKernels.SoftCap(HostBuffer.Span(x), cap);

    public void Add(in BackendTensor a, in BackendTensor b, in BackendTensor y) =>
        TensorPrimitives.Add(HostBuffer.Span(a), HostBuffer.Span(b), HostBuffer.Span(y));

    public void AddBias(in BackendTensor rows, in BackendTensor bias, int tokens)
    {
        var all = HostBuffer.Span(rows);
        var b = HostBuffer.Span(bias);
        for (var t = 0; t < tokens; t++)
        {
            var r = all.Slice(t * b.Length, b.Length);
            TensorPrimitives.Add(r, b, r);
        }
    }

    public void RoundToHalf(in BackendTensor x) => FloatKernels.RoundToHalf(HostBuffer.Span(x));

    public void RoundToBFloat16(in BackendTensor x) => FloatKernels.RoundToBFloat16(HostBuffer.Span(x));

    public void Rope(in BackendTensor x, int tokens, int heads, int headDim, int startPosition, RopeTable table) =>
        Rope(HostBuffer.Span(x), tokens, heads, headDim, startPosition, table);
}
