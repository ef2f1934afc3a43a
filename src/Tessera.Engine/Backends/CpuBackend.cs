using System.Runtime.InteropServices;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Backends;

/// <summary>
/// The CPU backend: quantized matrix products and row lookups on a persistent <see cref="WorkerPool"/>.
/// Float operations (norms, RoPE, attention) live in the other parts of this partial class.
/// </summary>
/// <remarks>
/// Results are deterministic: every output y[t, r] is computed by one fixed sequence of operations, whatever the
/// thread count and however many tokens are in the batch. Not thread-safe: one caller at a time.
/// </remarks>
public sealed unsafe partial class CpuBackend : IComputeBackend
{
    private readonly bool _ownsPool;

    // Quantized activations, reused across calls (grown on demand, 64-byte aligned).
    private byte* _act;
    private nint _actCapacity;

    /// <summary>Creates a backend with its own pool of <paramref name="threads"/> threads (0: all processors).</summary>
    public CpuBackend(int threads = 0, KernelPath path = KernelPath.Auto)
        : this(new WorkerPool(threads), path, ownsPool: true)
    {
    }

    /// <summary>Creates a backend computing on an existing pool (not disposed with the backend).</summary>
    public CpuBackend(WorkerPool pool, KernelPath path = KernelPath.Auto)
        : this(pool, path, ownsPool: false)
    {
    }

    private CpuBackend(WorkerPool pool, KernelPath path, bool ownsPool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        Fp16.EnsureInitialized(); // before the kernels are compiled, so they embed the table's address
        Pool = pool;
        Path = KernelPaths.Resolve(path);
        _ownsPool = ownsPool;
    }

    /// <summary>The worker pool every parallel operation of this backend runs on.</summary>
    public WorkerPool Pool { get; }

    /// <summary>The instruction-set path of the matrix kernels.</summary>
    public KernelPath Path { get; }

    public string Name => $"cpu-{Path.ToString().ToLowerInvariant()} ({Threads} threads)";

    public int Threads => Pool.Threads;

    public void Idle() => Pool.Rest();

    public void GetRows(in WeightMatrix w, ReadOnlySpan<int> rows, Span<float> output)
    {
        if (output.Length != (long)rows.Length * w.Cols)
            throw new ArgumentException($"Output holds {output.Length} floats; {rows.Length} rows of {w.Cols} need {(long)rows.Length * w.Cols}.", nameof(output));
        for (var i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            if ((uint)r >= (uint)w.Rows)
                throw new ArgumentOutOfRangeException(nameof(rows), $"Row {r} is outside {w.Name} ({w.Rows} rows).");
            var src = new ReadOnlySpan<byte>((void*)w.RowPointer(r), checked((int)w.RowBytes));
            ReferenceQuant.Dequantize(w.Type, src, output.Slice(i * w.Cols, w.Cols));
        }
    }

    public void Dispose()
    {
        if (_act != null)
        {
            NativeMemory.AlignedFree(_act);
            _act = null;
            _actCapacity = 0;
        }
        if (_ownsPool)
            Pool.Dispose();
    }

    private byte* ActivationBuffer(nint bytes)
    {
        if (bytes > _actCapacity)
        {
            if (_act != null)
                NativeMemory.AlignedFree(_act);
            var capacity = Math.Max(bytes, _actCapacity * 2);
            _act = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, 64);
            _actCapacity = capacity;
        }
        return _act;
    }
}
