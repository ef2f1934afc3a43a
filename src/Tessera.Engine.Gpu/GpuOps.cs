using ILGPU;
using ILGPU.Runtime;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gpu;

/// <summary>
/// The operations of a transformer layer on one device, over device buffers: the kernels are compiled once here, and
/// inputs and outputs stay in device memory between calls (only a stage's input and output need cross to the host).
/// Not thread-safe: one stage's compute thread uses it, as with the CPU backend.
/// </summary>
public sealed class GpuOps : IDisposable
{
    private readonly GpuDevice _device;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<sbyte>, ArrayView<float>> _quantize;
    private readonly Action<KernelConfig, QuantRows, ArrayView<float>, int, int> _quant;
    private readonly Action<KernelConfig, F32Rows, ArrayView<float>, int, int> _f32;
    private readonly Action<KernelConfig, F16Rows, ArrayView<float>, int, int> _f16;
    private readonly Action<KernelConfig, DequantRows, ArrayView<float>, int, int> _dequant;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, float> _rmsNorm;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _swiGlu;
    private readonly Action<Index1D, ArrayView<byte>, ArrayView<int>, ArrayView<float>, int, int, int> _getRows;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int> _rope;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionParameters> _attention;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> _geGlu;
    private readonly Action<Index1D, ArrayView<float>, float> _scale;
    private readonly Action<Index1D, ArrayView<float>, float> _softCap;
    private MemoryBuffer1D<float, Stride1D.Dense>? _geluTable;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _effectiveQ8_K;
    private readonly Action<Index1D, ArrayView<sbyte>, ArrayView<float>, ArrayView<float>> _effectiveQ8_0;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _add;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _addBias;
    private readonly Action<Index1D, ArrayView<float>> _roundHalf;
    private readonly Action<Index1D, ArrayView<float>> _roundBFloat16;
    private MemoryBuffer1D<float, Stride1D.Dense>? _effective;
    private MemoryBuffer1D<sbyte, Stride1D.Dense>? _quants;
    private MemoryBuffer1D<float, Stride1D.Dense>? _scales;
    private MemoryBuffer1D<float, Stride1D.Dense>? _scores;

    public GpuOps(GpuDevice device)
    {
        if (device.WarpSize != GpuKernels.Lanes)
            throw new GpuUnavailableException($"The kernels need warps of {GpuKernels.Lanes} threads; {device.Name} has {device.WarpSize}.");
        _device = device;
        var a = device.Accelerator;
        _quantize = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<sbyte>, ArrayView<float>>(GpuKernels.QuantizeQ8_0);
        _quant = a.LoadStreamKernel<QuantRows, ArrayView<float>, int, int>(GpuKernels.MatMulTiles);
        _f32 = a.LoadStreamKernel<F32Rows, ArrayView<float>, int, int>(GpuKernels.MatMulTiles);
        _f16 = a.LoadStreamKernel<F16Rows, ArrayView<float>, int, int>(GpuKernels.MatMulTiles);
        _dequant = a.LoadStreamKernel<DequantRows, ArrayView<float>, int, int>(GpuKernels.MatMulTiles);
        _rmsNorm = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, float>(GpuKernels.RmsNorm);
        _swiGlu = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GpuKernels.SwiGlu);
        _getRows = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, ArrayView<int>, ArrayView<float>, int, int, int>(GpuKernels.GetRows);
        _rope = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(GpuKernels.Rope);
        _effectiveQ8_K = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(GpuKernels.EffectiveQ8_K);
        _effectiveQ8_0 = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<sbyte>, ArrayView<float>, ArrayView<float>>(GpuKernels.EffectiveQ8_0);
        _add = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GpuKernels.Add);
        _addBias = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(GpuKernels.AddBias);
        _roundHalf = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>>(GpuKernels.RoundHalfInPlace);
        _roundBFloat16 = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>>(GpuKernels.RoundBFloat16InPlace);
        _attention = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionParameters>(GpuKernels.Attention);
        _geGlu = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GpuKernels.GeGlu);
        _scale = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(GpuKernels.Scale);
        _softCap = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(GpuKernels.SoftCap);
    }

    private static KernelConfig Warps(long groups) => new((int)groups, GpuKernels.Lanes);

    /// <summary>A grid for a grid-stride kernel of <paramref name="items"/> work items: no more groups than the device keeps resident.</summary>
    private KernelConfig Grid(long items, int cap = int.MaxValue) => Warps(Math.Max(1, Math.Min(items, Math.Min(cap, _device.ResidentWarps))));

    /// <summary>
    /// y[t, r] = sum_k W[r, k] x[t, k] for <paramref name="tokens"/> rows of <paramref name="x"/> (tokens x Cols) into
    /// <paramref name="y"/> (tokens x Rows), with the CPU engine's activation rounding for the weight type.
    /// </summary>
    public void MatMul(GpuMatrix w, ArrayView<float> x, ArrayView<float> y, int tokens)
    {
        CheckShape(w, x, y, tokens);
        Launch(w, Prepare(w.Type, x, (long)tokens * w.Cols), y, tokens);
    }

    /// <summary>
    /// Products of one input with several matrices of one column count (Q, K and V; gate and up), outputs one after
    /// the other in <paramref name="y"/>: the input is quantized once when the matrices' types take the same activations
    /// (they do in real files), then each product runs as in <see cref="MatMul"/>.
    /// </summary>
    public void MatMulGroup(ReadOnlySpan<GpuMatrix> weights, ArrayView<float> x, ArrayView<float> y, int tokens)
    {
        var shared = true;
        foreach (var w in weights)
            shared &= w.Cols == weights[0].Cols && ActivationsOf(w.Type) == ActivationsOf(weights[0].Type);
        var prepared = shared ? Prepare(weights[0].Type, x, (long)tokens * weights[0].Cols) : default;
        long offset = 0;
        foreach (var w in weights)
        {
            var output = y.SubView(offset, (long)tokens * w.Rows);
            CheckShape(w, x, output, tokens);
            Launch(w, shared ? prepared : Prepare(w.Type, x, (long)tokens * w.Cols), output, tokens);
            offset += (long)tokens * w.Rows;
        }
    }

    private static void CheckShape(GpuMatrix w, ArrayView<float> x, ArrayView<float> y, int tokens)
    {
        if (x.Length < (long)tokens * w.Cols || y.Length < (long)tokens * w.Rows)
            throw new ArgumentException($"{w.Name} ({w.Rows} x {w.Cols}) against {tokens} tokens needs {tokens * (long)w.Cols} inputs and {tokens * (long)w.Rows} outputs, not {x.Length} and {y.Length}.");
    }

    /// <summary>How a weight type wants its activations: as they are, Q8_0 quants, or rounded values (Q8_0 or Q8_K).</summary>
    private enum Activations
    {
        Float,
        Q8_0,
        Q8_0Values,
        Q8_KValues,
    }

    private static Activations ActivationsOf(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => Activations.Float,
        GgmlType.Q8_0 or GgmlType.Q4_0 => Activations.Q8_0,
        GgmlType.Q5_0 or GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.IQ4_NL => Activations.Q8_0Values,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.IQ4_XS => Activations.Q8_KValues,
        _ => throw new NotSupportedException($"No GPU kernel for {type} yet."),
    };

    /// <summary>The input of a product with <paramref name="type"/> weights, prepared in scratch memory (valid until the next preparation).</summary>
    private (ArrayView<float> Values, ArrayView<sbyte> Quants, ArrayView<float> Scales) Prepare(GgmlType type, ArrayView<float> x, long count)
    {
        switch (ActivationsOf(type))
        {
            case Activations.Q8_0:
            {
                var (qs, d) = Quantize(x, count);
                return (x, qs, d);
            }
            case Activations.Q8_0Values:
            {
                var (qs, d) = Quantize(x, count);
                var effective = Effective(count);
                _effectiveQ8_0((int)count, qs, d, effective);
                return (effective, qs, d);
            }
            case Activations.Q8_KValues:
            {
                var effective = Effective(count);
                _effectiveQ8_K((int)(count / 256), x, effective);
                return (effective, default, default);
            }
            default:
                return (x, default, default);
        }
    }

    private void Launch(GpuMatrix w, (ArrayView<float> Values, ArrayView<sbyte> Quants, ArrayView<float> Scales) input, ArrayView<float> y, int tokens)
    {
        var grid = Grid(TileCount(w.Rows, tokens));
        switch (w.Type)
        {
            case GgmlType.F32:
                _f32(grid, new F32Rows { Weights = w.Data.View.AsContiguous().Cast<float>(), Input = input.Values, Cols = w.Cols }, y, w.Rows, tokens);
                break;
            case GgmlType.F16:
                _f16(grid, new F16Rows { Weights = w.Data.View.AsContiguous().Cast<ushort>(), Input = input.Values, Cols = w.Cols }, y, w.Rows, tokens);
                break;
            case GgmlType.Q8_0:
            case GgmlType.Q4_0:
                _quant(grid, new QuantRows
                {
                    Weights = w.Data.View, Quants = input.Quants, Scales = input.Scales, Cols = w.Cols,
                    Kind = w.Type == GgmlType.Q8_0 ? GpuKernels.KindQ8_0 : GpuKernels.KindQ4_0,
                }, y, w.Rows, tokens);
                break;
            default:
                // BF16 meets the input itself; Q5_0 and the K-quants their rounded activations.
                _dequant(grid, Dequant(w, input.Values), y, w.Rows, tokens);
                break;
        }
    }

    private static long TileCount(int rows, int tokens) =>
        (long)((rows + GpuKernels.TileRows - 1) / GpuKernels.TileRows) * ((tokens + GpuKernels.TileTokens - 1) / GpuKernels.TileTokens);

    private static DequantRows Dequant(GpuMatrix w, ArrayView<float> effective) =>
        new() { Weights = w.Data.View, Effective = effective, Cols = w.Cols, RowBytes = w.RowBytes, Type = (int)w.Type };

    /// <summary>Q8_0 activations of the first <paramref name="count"/> values of <paramref name="x"/> (a multiple of 32), in scratch buffers.</summary>
    internal (ArrayView<sbyte> Quants, ArrayView<float> Scales) Quantize(ArrayView<float> x, long count)
    {
        var quants = Scratch(ref _quants, count);
        var scales = Scratch(ref _scales, count / 32);
        _quantize((int)(count / 32), x, quants, scales);
        return (quants, scales);
    }

    /// <summary>A scratch buffer of <paramref name="count"/> activation values as the CPU's kernels round them.</summary>
    private ArrayView<float> Effective(long count) => Scratch(ref _effective, count);

    /// <summary>The first <paramref name="count"/> values of a scratch buffer, which grows (new device memory) when it is shorter.</summary>
    internal ArrayView<T> Scratch<T>(ref MemoryBuffer1D<T, Stride1D.Dense>? buffer, long count)
        where T : unmanaged
    {
        if (buffer is null || buffer.Length < count)
        {
            if (buffer is not null)
            {
                _device.Accelerator.Synchronize(); // kernels still queued may read the old buffer
                buffer.Dispose();
            }
            buffer = _device.Accelerator.Allocate1D<T>(count);
        }
        return buffer.View.SubView(0, count);
    }

    /// <summary>y = x / sqrt(mean(x^2) + eps) * weight for each of <paramref name="tokens"/> rows.</summary>
    public void RmsNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> y, int tokens, float eps) =>
        _rmsNorm(Warps(tokens), x, weight, y, eps);

    /// <summary>output = silu(gate) * up over the first <paramref name="count"/> values.</summary>
    public void SwiGlu(ArrayView<float> gate, ArrayView<float> up, ArrayView<float> output, int count) =>
        _swiGlu(count, gate, up, output);

    /// <summary>output = gelu(gate) * up over the first <paramref name="count"/> values (ggml's GELU, its f16 table uploaded on first use).</summary>
    public void GeGlu(ArrayView<float> gate, ArrayView<float> up, ArrayView<float> output, int count)
    {
        if (_geluTable is null)
        {
            var table = Array.ConvertAll(Backends.GgmlMath.GeluTable.Value, Kernels.Fp16.ToSingle);
            _geluTable = _device.Accelerator.Allocate1D(table);
        }
        _geGlu(count, gate, up, output, _geluTable.View);
    }

    /// <summary>x = x * factor in place.</summary>
    public void Scale(ArrayView<float> x, float factor) => _scale((int)x.Length, x, factor);

    /// <summary>x = cap * tanh(x / cap) in place.</summary>
    public void SoftCap(ArrayView<float> x, float cap) => _softCap((int)x.Length, x, cap);

    /// <summary>
    /// Embedding lookup: rows <paramref name="ids"/> (<paramref name="count"/> of them, checked by the caller against
    /// the matrix's rows) of <paramref name="w"/>, dequantized into <paramref name="output"/> (count x Cols).
    /// </summary>
    public void GetRows(GpuMatrix w, ArrayView<int> ids, ArrayView<float> output, int count)
    {
        if (output.Length < (long)count * w.Cols)
            throw new ArgumentException($"{count} rows of {w.Name} need {(long)count * w.Cols} outputs, not {output.Length}.");
        _getRows((int)((long)count * w.Cols), w.Data.View, ids, output, w.Cols, (int)(w.Data.Length / w.Rows), (int)w.Type);
    }

    /// <summary>Rotates the heads of <paramref name="tokens"/> rows of <paramref name="x"/> in place, row t at position <paramref name="start"/> + t.</summary>
    public void Rope(ArrayView<float> x, GpuRopeTable table, int tokens, int heads, int headDim, int start)
    {
        if (start < 0 || start + tokens > table.Positions)
            throw new ArgumentOutOfRangeException(nameof(start), $"Positions {start}..{start + tokens - 1} are beyond the rotary table ({table.Positions}).");
        _rope(tokens * heads * table.Pairs, x, table.Cos.View, table.Sin.View, heads, headDim, table.Pairs, start, table.NeoX ? 1 : 0);
    }

    /// <summary>
    /// Causal attention for one sequence (<see cref="Backends.AttentionShape"/>): <paramref name="queries"/> Tokens x
    /// QueryWidth, <paramref name="keys"/> and <paramref name="values"/> (StartPosition + Tokens) x KvWidth.
    /// </summary>
    public void Attention(ArrayView<float> queries, ArrayView<float> keys, ArrayView<float> values, ArrayView<float> output, in Backends.AttentionShape shape)
    {
        // Each group keeps its scores in its own stretch of scratch memory: cap the groups so that stays small.
        var grid = Grid((long)shape.Tokens * shape.Heads, MaxAttentionGroups);
        var perGroup = shape.StartPosition + shape.Tokens;
        var scores = Scratch(ref _scores, (long)grid.GridDim.X * perGroup);
        _attention(grid, queries, keys, values, output, scores,
            new AttentionParameters(shape.Tokens, shape.StartPosition, shape.Heads, shape.KvHeads, shape.HeadDim, shape.Scale, shape.SoftCap, shape.Window));
    }

    /// <summary>y = a + b over the first <paramref name="count"/> values (y may be a or b).</summary>
    public void Add(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int count)
    {
        if (count > 0)
            _add(count, a, b, y);
    }

    /// <summary>Adds <paramref name="bias"/> to each of the <paramref name="tokens"/> rows (of the bias's length) of <paramref name="rows"/>.</summary>
    public void AddBias(ArrayView<float> rows, ArrayView<float> bias, int tokens)
    {
        if (tokens > 0)
            _addBias((int)(tokens * bias.Length), rows, bias);
    }

    /// <summary>Rounds <paramref name="x"/> to f16 values in place.</summary>
    public void RoundToHalf(ArrayView<float> x)
    {
        if (x.Length > 0)
            _roundHalf((int)x.Length, x);
    }

    /// <summary>Rounds <paramref name="x"/> to bf16 values in place.</summary>
    public void RoundToBFloat16(ArrayView<float> x)
    {
        if (x.Length > 0)
            _roundBFloat16((int)x.Length, x);
    }

    private const int MaxAttentionGroups = 1024;

    /// <summary>Waits until every kernel queued so far has finished.</summary>
    public void Synchronize() => _device.Accelerator.Synchronize();

    public void Dispose()
    {
        _effective?.Dispose();
        _scores?.Dispose();
        _geluTable?.Dispose();
        _quants?.Dispose();
        _scales?.Dispose();
    }
}
