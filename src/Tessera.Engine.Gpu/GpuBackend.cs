using ILGPU;
using ILGPU.Runtime;
using Tessera.Engine.Backends;
using Tessera.Engine.Model;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Gpu;

/// <summary>
/// The compute backend of one GPU: weights, KV cache and hidden states live in device memory for the whole stage; only
/// token ids, a stage's input hidden states and its output (hidden states or logits) cross to and from the host.
/// Kernels are queued on the device's stream; <see cref="Download"/> waits for them. Not thread-safe: one stage's
/// compute thread uses it, as with the CPU backend.
/// </summary>
public sealed class GpuBackend : IComputeBackend
{
    private readonly GpuDevice _device;
    private readonly bool _ownsDevice;
    private readonly GpuOps _ops;
    private readonly Dictionary<nint, GpuMatrix> _matrices = [];
    private readonly Dictionary<RopeTable, GpuRopeTable> _ropes = new(ReferenceEqualityComparer.Instance);
    private MemoryBuffer1D<int, Stride1D.Dense>? _ids;
    private GpuMatrix[] _group = new GpuMatrix[3];

    /// <summary>A backend on <paramref name="device"/>, which it disposes with itself when <paramref name="ownsDevice"/>.</summary>
    public GpuBackend(GpuDevice device, bool ownsDevice = true)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = device;
        _ownsDevice = ownsDevice;
        _ops = new GpuOps(device);
    }

    public GpuDevice Device => _device;

    public string Name => $"gpu {_device.Name}";

    /// <summary>One host thread queues the kernels.</summary>
    public int Threads => 1;

    /// <summary>The device holds its own copy of the matrices: the host reads them from the memory map once, at load.</summary>
    public WeightStorage PreferredStorage => WeightStorage.Map;

    /// <summary>Bytes of matrices copied to the device so far.</summary>
    public long MatrixBytes { get; private set; }

    public double MeasureReadBandwidthGBps() => GpuBenchmark.MeasureBandwidth(_device);

    public BackendBuffer Allocate(int floats) => new DeviceBuffer(this, floats);

    /// <summary>Bytes of device buffers allocated through <see cref="Allocate"/> and not yet freed (activations, KV caches, norms).</summary>
    public long LiveBufferBytes => Interlocked.Read(ref _liveBufferBytes);

    private long _liveBufferBytes;

    public void Upload(ReadOnlySpan<float> source, in BackendTensor destination)
    {
        destination.RequireLength(source.Length, nameof(destination));
        if (source.Length > 0)
            View(destination).CopyFromCPU(source);
    }

    public void Download(in BackendTensor source, Span<float> destination)
    {
        source.RequireLength(destination.Length, nameof(destination));
        _device.Accelerator.Synchronize();
        if (source.Length > 0)
            View(source).CopyToCPU(destination);
    }

    public void Copy(in BackendTensor source, in BackendTensor destination)
    {
        destination.RequireLength(source.Length, nameof(destination));
        if (source.Length > 0)
            View(source).CopyTo(View(destination));
    }

    public void Prepare(in WeightMatrix w) => Matrix(w);

    public void MatMul(in WeightMatrix w, in BackendTensor x, in BackendTensor y, int tokens) =>
        _ops.MatMul(Matrix(w), View(x), View(y), tokens);

    public void MatMulGroup(ReadOnlySpan<WeightMatrix> weights, in BackendTensor x, in BackendTensor y, int tokens)
    {
        if (_group.Length < weights.Length)
            _group = new GpuMatrix[weights.Length];
        for (var i = 0; i < weights.Length; i++)
            _group[i] = Matrix(weights[i]);
        _ops.MatMulGroup(_group.AsSpan(0, weights.Length), View(x), View(y), tokens);
    }

    public void GetRows(in WeightMatrix w, ReadOnlySpan<int> rows, in BackendTensor output)
    {
        if (output.Length != (long)rows.Length * w.Cols)
            throw new ArgumentException($"Output holds {output.Length} floats; {rows.Length} rows of {w.Cols} need {(long)rows.Length * w.Cols}.", nameof(output));
        foreach (var r in rows)
        {
            if ((uint)r >= (uint)w.Rows)
                throw new ArgumentOutOfRangeException(nameof(rows), $"Row {r} is outside {w.Name} ({w.Rows} rows).");
        }
        if (rows.Length == 0)
            return;
        var ids = _ops.Scratch(ref _ids, rows.Length);
        ids.CopyFromCPU(rows);
        _ops.GetRows(Matrix(w), ids, View(output), rows.Length);
    }

    public void RmsNorm(in BackendTensor x, in BackendTensor weight, in BackendTensor y, int tokens, float eps) =>
        _ops.RmsNorm(View(x), View(weight), View(y), tokens, eps);

    public void SwiGlu(in BackendTensor gate, in BackendTensor up, in BackendTensor output) =>
        _ops.SwiGlu(View(gate), View(up), View(output), gate.Length);

    public void GeGlu(in BackendTensor gate, in BackendTensor up, in BackendTensor output) =>
        _ops.GeGlu(View(gate), View(up), View(output), gate.Length);

    public void Scale(in BackendTensor x, float factor) => _ops.Scale(View(x), factor);

    public void SoftCap(in BackendTensor x, float cap) => _ops.SoftCap(View(x), cap);

    public void Add(in BackendTensor a, in BackendTensor b, in BackendTensor y) =>
        _ops.Add(View(a), View(b), View(y), y.Length);

    public void AddBias(in BackendTensor rows, in BackendTensor bias, int tokens) =>
        _ops.AddBias(View(rows), View(bias), tokens);

    public void RoundToHalf(in BackendTensor x) => _ops.RoundToHalf(View(x));

    public void RoundToBFloat16(in BackendTensor x) => _ops.RoundToBFloat16(View(x));

    public void Rope(in BackendTensor x, int tokens, int heads, int headDim, int startPosition, RopeTable table)
    {
        if (!_ropes.TryGetValue(table, out var device))
            _ropes[table] = device = new GpuRopeTable(_device, table);
        _ops.Rope(View(x), device, tokens, heads, headDim, startPosition);
    }

    public void AttentionBatch(in BackendTensor queries, ReadOnlySpan<AttentionSequence> sequences, in BackendTensor output)
    {
        var q = View(queries);
        var o = View(output);
        foreach (var s in sequences)
        {
            var width = s.Shape.QueryWidth;
            var visible = s.Shape.StartPosition + s.Shape.Tokens;
            if ((long)(s.FirstRow + s.Shape.Tokens) * width > Math.Min(q.Length, o.Length)
                || s.Keys.Length < visible * s.Shape.KvWidth || s.Values.Length < visible * s.Shape.KvWidth)
                throw new ArgumentException("An attention sequence reaches past its buffers.", nameof(sequences));
            var rows = (long)s.Shape.Tokens * width;
            _ops.Attention(q.SubView(s.FirstRow * (long)width, rows), View(s.Keys), View(s.Values), o.SubView(s.FirstRow * (long)width, rows), s.Shape);
        }
    }

    public void Dispose()
    {
        foreach (var m in _matrices.Values)
            m.Dispose();
        _matrices.Clear();
        foreach (var r in _ropes.Values)
            r.Dispose();
        _ropes.Clear();
        _ids?.Dispose();
        _ops.Dispose();
        if (_ownsDevice)
            _device.Dispose();
    }

    /// <summary>The device copy of <paramref name="w"/>, made on first use (at load, through <see cref="Prepare"/>).</summary>
    private GpuMatrix Matrix(in WeightMatrix w)
    {
        if (_matrices.TryGetValue(w.Data, out var m) && m.Type == w.Type && m.Rows == w.Rows && m.Cols == w.Cols)
            return m;
        if (m is not null)
            throw new InvalidOperationException($"Two matrices at one address ({m.Name} and {w.Name}): a stage's weights must stay mapped while its backend lives.");
        m = GpuMatrix.Upload(_device, w);
        _matrices[w.Data] = m;
        MatrixBytes += m.Data.Length;
        return m;
    }

    private static ArrayView<float> View(in BackendTensor tensor)
    {
        var buffer = tensor.Buffer as DeviceBuffer
            ?? throw new ArgumentException($"A {tensor.Buffer?.GetType().Name ?? "missing"} buffer was given to a GPU operation; each backend takes only the buffers it allocated.");
        return buffer.Memory.View.SubView(tensor.Offset, tensor.Length);
    }

    /// <summary>Floats in device memory.</summary>
    private sealed class DeviceBuffer : BackendBuffer
    {
        private readonly GpuBackend _owner;
        private bool _freed;

        public DeviceBuffer(GpuBackend owner, int length)
            : base(length)
        {
            _owner = owner;
            // ILGPU refuses empty buffers: an empty tensor still owns one float.
            Memory = owner._device.Accelerator.Allocate1D<float>(Math.Max(1, length));
            Interlocked.Add(ref owner._liveBufferBytes, Memory.LengthInBytes);
        }

        public MemoryBuffer1D<float, Stride1D.Dense> Memory { get; }

        protected override void Dispose(bool disposing)
        {
            if (!disposing || _freed)
                return;
            _freed = true;
            // Kernels run after they are queued: one may still read or write this memory (a KV cache that grew, a
            // stage's activations reallocated for a larger batch).
            _owner._device.Accelerator.Synchronize();
            Interlocked.Add(ref _owner._liveBufferBytes, -Memory.LengthInBytes);
            Memory.Dispose();
        }
    }
}
