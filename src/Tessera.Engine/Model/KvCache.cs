using Tessera.Engine.Backends;
using Tessera.Generation;

namespace Tessera.Engine.Model;

/// <summary>
/// The keys and values one session has produced in one stage's layers. Positions <c>[0, Length)</c> are
/// filled; a forward pass appends after <see cref="Length"/>. <see cref="Truncate"/> rewinds (used when a
/// session is replayed). Storage is the stage backend's (device memory for a GPU) and grows by doubling up to
/// <see cref="MaxTokens"/>. Values are stored as f32 holding f16 values, as llama.cpp's f16 cache computes.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly IComputeBackend _backend;
    private readonly BackendBuffer[] _keys;
    private readonly BackendBuffer[] _values;

    public KvCache(LayerRange range, int kvWidth, int maxTokens, IComputeBackend backend, int initialCapacity = 64)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        // Each layer's keys live in one array: the whole context must fit in one (a hostile context_length must not wrap).
        if ((long)maxTokens * kvWidth > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens,
                $"A context of {maxTokens} positions x {kvWidth} key values does not fit in memory as one array; use a shorter context.");
        _backend = backend;
        Range = range;
        KvWidth = kvWidth;
        MaxTokens = maxTokens;
        Capacity = Math.Min(Math.Max(initialCapacity, 1), maxTokens);
        _keys = new BackendBuffer[range.Count];
        _values = new BackendBuffer[range.Count];
        for (var i = 0; i < range.Count; i++)
        {
            _keys[i] = backend.Allocate(Capacity * kvWidth);
            _values[i] = backend.Allocate(Capacity * kvWidth);
        }
    }

    public LayerRange Range { get; }

    public int KvWidth { get; }

    public int MaxTokens { get; }

    public int Capacity { get; private set; }

    /// <summary>Number of positions filled.</summary>
    public int Length { get; private set; }

    /// <summary>Bytes held by this cache now.</summary>
    public long ByteSize => 2L * Range.Count * Capacity * KvWidth * sizeof(float);

    /// <summary>Bytes a cache of <paramref name="tokens"/> positions needs for <paramref name="layers"/> layers.</summary>
    public static long BytesFor(int layers, int kvWidth, int tokens) => 2L * layers * tokens * kvWidth * sizeof(float);

    /// <summary>Forgets positions from <paramref name="length"/> on.</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        Length = length;
    }

    public void Clear() => Length = 0;

    /// <summary>The keys of positions [0, tokens) of one layer (in the backend's memory).</summary>
    internal BackendTensor Keys(int layerInRange, int tokens) => _keys[layerInRange].Slice(0, tokens * KvWidth);

    /// <summary>The values of positions [0, tokens) of one layer (in the backend's memory).</summary>
    internal BackendTensor Values(int layerInRange, int tokens) => _values[layerInRange].Slice(0, tokens * KvWidth);

    /// <summary>Frees the cache's memory now (device memory is scarce; host memory would be collected anyway).</summary>
    public void Dispose()
    {
        foreach (var b in _keys)
            b.Dispose();
        foreach (var b in _values)
            b.Dispose();
    }

    /// <summary>Makes room for <paramref name="added"/> more positions.</summary>
    internal void Reserve(int added)
    {
        var needed = Length + added;
        if (needed > MaxTokens)
            throw new ContextFullException(needed, MaxTokens);
        if (needed <= Capacity)
            return;
        var capacity = Capacity;
        while (capacity < needed)
            capacity = (int)Math.Min((long)capacity * 2, MaxTokens);
        for (var i = 0; i < _keys.Length; i++)
        {
            _keys[i] = Grow(_keys[i], capacity * KvWidth);
            _values[i] = Grow(_values[i], capacity * KvWidth);
        }
        Capacity = capacity;
    }

    internal void Advance(int tokens) => Length += tokens;

    /// <summary>A buffer of <paramref name="floats"/> holding the filled positions of <paramref name="old"/>, which is freed.</summary>
    private BackendBuffer Grow(BackendBuffer old, int floats)
    {
        var grown = _backend.Allocate(floats);
        var filled = Length * KvWidth;
        if (filled > 0)
            _backend.Copy(old.Slice(0, filled), grown.Slice(0, filled));
        old.Dispose();
        return grown;
    }
}
