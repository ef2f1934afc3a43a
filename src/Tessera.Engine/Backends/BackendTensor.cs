namespace Tessera.Engine.Backends;

/// <summary>
/// Float memory owned by a backend: host memory for the CPU, device memory for a GPU. Model code never reads it
/// directly; it hands <see cref="BackendTensor"/> ranges of it to the backend's operations, so hidden states and the
/// KV cache stay where the backend computes. Dispose frees it (the GC frees host buffers anyway).
/// </summary>
public abstract class BackendBuffer : IDisposable
{
    protected BackendBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
    }

    /// <summary>Floats the buffer holds.</summary>
    public int Length { get; }

    /// <summary>The whole buffer as a tensor.</summary>
    public BackendTensor All => new(this, 0, Length);

    /// <summary>Floats [start, start + length).</summary>
    public BackendTensor Slice(int start, int length) => All.Slice(start, length);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>A contiguous range of floats in a <see cref="BackendBuffer"/>: what backend operations take and write.</summary>
public readonly struct BackendTensor
{
    public BackendTensor(BackendBuffer buffer, int offset, int length)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if ((uint)offset > (uint)buffer.Length || (uint)length > (uint)(buffer.Length - offset))
            throw new ArgumentOutOfRangeException(nameof(length), $"Floats {offset}..{(long)offset + length} are outside a buffer of {buffer.Length}.");
        Buffer = buffer;
        Offset = offset;
        Length = length;
    }

    public BackendBuffer Buffer { get; }

    /// <summary>Index of the first float in <see cref="Buffer"/>.</summary>
    public int Offset { get; }

    public int Length { get; }

    public bool IsEmpty => Length == 0;

    /// <summary>
    /// Throws <see cref="ArgumentException"/> (for <paramref name="parameter"/>) unless <paramref name="floats"/> is this
    /// tensor's length: uploads, downloads and copies move whole tensors.
    /// </summary>
    public void RequireLength(int floats, string parameter)
    {
        if (floats != Length)
            throw new ArgumentException($"{floats} floats do not fit a tensor of {Length}.", parameter);
    }

    /// <summary>Floats [start, start + length) of this range.</summary>
    public BackendTensor Slice(int start, int length)
    {
        if ((uint)start > (uint)Length || (uint)length > (uint)(Length - start))
            throw new ArgumentOutOfRangeException(nameof(length), $"Floats {start}..{(long)start + length} are outside a tensor of {Length}.");
        return new BackendTensor(Buffer, Offset + start, length);
    }

    /// <summary>The floats of <paramref name="range"/>.</summary>
    public BackendTensor this[Range range]
    {
        get
        {
            var (start, length) = range.GetOffsetAndLength(Length);
            return Slice(start, length);
        }
    }
}

/// <summary>A backend buffer in host memory (the CPU backend's): a float array.</summary>
public sealed class HostBuffer : BackendBuffer
{
    public HostBuffer(int length)
        : base(length) => Array = new float[length];

    /// <summary>The floats.</summary>
    public float[] Array { get; }

    /// <summary>The floats of <paramref name="tensor"/>, which must be in a host buffer.</summary>
    public static Span<float> Span(in BackendTensor tensor) => Of(tensor).Array.AsSpan(tensor.Offset, tensor.Length);

    /// <summary>The floats of <paramref name="tensor"/> as memory (for pinning), which must be in a host buffer.</summary>
    public static Memory<float> Memory(in BackendTensor tensor) => Of(tensor).Array.AsMemory(tensor.Offset, tensor.Length);

    private static HostBuffer Of(in BackendTensor tensor) => tensor.Buffer as HostBuffer
        ?? throw new ArgumentException($"A {tensor.Buffer?.GetType().Name ?? "missing"} buffer was given to an operation on host memory; each backend takes only the buffers it allocated.");
}
