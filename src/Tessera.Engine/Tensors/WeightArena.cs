using System.Runtime.InteropServices;

namespace Tessera.Engine.Tensors;

/// <summary>
/// Native memory that holds copies of weight matrices, aligned to 2 MiB and advised to use transparent huge pages on
/// Linux. Decode streams every weight once per token; from a 4 KiB-page memory map that costs a TLB miss every 4 KiB,
/// from huge pages almost none, which measured ~30 % faster decode here (docs/benchmarks.md). Freed on
/// <see cref="Dispose"/> or, failing that, by the finalizer.
/// </summary>
public sealed unsafe class WeightArena : IDisposable
{
    private const nuint HugePage = 2 << 20;
    private const int MadvHugePage = 14;

    private byte* _base;
    private readonly nuint _capacity;
    private nuint _used;

    /// <summary>Reserves room for matrices of <paramref name="bytes"/> in total (each rounded up to 64 bytes).</summary>
    public WeightArena(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        _capacity = ((nuint)Math.Max(bytes, 1) + HugePage - 1) & ~(HugePage - 1);
        _base = (byte*)NativeMemory.AlignedAlloc(_capacity, HugePage);
        if (OperatingSystem.IsLinux())
            HugePagesAdvised = Madvise(_base, _capacity, MadvHugePage) == 0; // a hint: the kernel may still say no
        GC.AddMemoryPressure((long)_capacity);
    }

    ~WeightArena() => Free();

    /// <summary>Bytes reserved.</summary>
    public long Capacity => (long)_capacity;

    /// <summary>Whether the kernel accepted the huge-page advice (it still backs pages as it can).</summary>
    public bool HugePagesAdvised { get; }

    /// <summary>Bytes one matrix takes in an arena (what to reserve for it).</summary>
    public static long Footprint(in WeightMatrix w) => (w.ByteSize + 63) & ~63L;

    /// <summary>Copies <paramref name="source"/> into the arena and returns the matrix pointing at the copy.</summary>
    public WeightMatrix Copy(in WeightMatrix source)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        var size = (nuint)Footprint(source);
        if (_used + size > _capacity)
            throw new InvalidOperationException($"The weight arena ({_capacity} bytes) has no room for {source.Name} ({source.ByteSize} bytes).");
        var destination = _base + _used;
        _used += size;
        // Q4_0 and IQ4_NL (the same block bytes) in eights of rows are regrouped for the eight-row kernels (llama.cpp's
        // arithmetic, see Q4_0Rows8 and IQ4NLRows8).
        if (source.Type is GgmlType.Q4_0 or GgmlType.IQ4_NL && source.Layout == WeightLayout.Rows && source.Rows % Kernels.Q4_0Rows8.Rows == 0)
        {
            Kernels.Q4_0Rows8.Repack((byte*)source.Data, destination, source.Rows, source.Cols);
            var layout = source.Type == GgmlType.Q4_0 ? WeightLayout.Q4_0Groups : WeightLayout.IQ4_NLGroups;
            return new WeightMatrix((nint)destination, source.Type, source.Rows, source.Cols, source.Name, layout);
        }
        // So is Q4_K, for its eight-row kernels (see Q4_KRows8).
        if (source.Type == GgmlType.Q4_K && source.Layout == WeightLayout.Rows && source.Rows % Kernels.Q4_KRows8.Rows == 0)
        {
            Kernels.Q4_KRows8.Repack((byte*)source.Data, destination, source.Rows, source.Cols);
            return new WeightMatrix((nint)destination, source.Type, source.Rows, source.Cols, source.Name, WeightLayout.Q4_KGroups);
        }
        Buffer.MemoryCopy((void*)source.Data, destination, source.ByteSize, source.ByteSize);
        return new WeightMatrix((nint)destination, source.Type, source.Rows, source.Cols, source.Name, source.Layout);
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        if (_base == null)
            return;
        NativeMemory.AlignedFree(_base);
        _base = null;
        GC.RemoveMemoryPressure((long)_capacity);
    }

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);
}
