using Tessera.Generation;

namespace Tessera.Engine.Model;

/// <summary>
/// The keys and values one session has produced in one stage's layers. Positions <c>[0, Length)</c> are
/// filled; a forward pass appends after <see cref="Length"/>. <see cref="Truncate"/> rewinds (used when a
/// session is replayed). Storage grows by doubling up to <see cref="MaxTokens"/>.
/// </summary>
public sealed class KvCache
{
    private readonly float[][] _keys;
    private readonly float[][] _values;

    public KvCache(LayerRange range, int kvWidth, int maxTokens, int initialCapacity = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        // Each layer's keys live in one array: the whole context must fit in one (a hostile context_length must not wrap).
        if ((long)maxTokens * kvWidth > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens,
                $"A context of {maxTokens} positions x {kvWidth} key values does not fit in memory as one array; use a shorter context.");
        Range = range;
        KvWidth = kvWidth;
        MaxTokens = maxTokens;
        Capacity = Math.Min(Math.Max(initialCapacity, 1), maxTokens);
        _keys = new float[range.Count][];
        _values = new float[range.Count][];
        for (var i = 0; i < range.Count; i++)
        {
            _keys[i] = new float[(long)Capacity * kvWidth];
            _values[i] = new float[(long)Capacity * kvWidth];
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

    internal Span<float> Keys(int layerInRange, int tokens) => _keys[layerInRange].AsSpan(0, tokens * KvWidth);

    internal Span<float> Values(int layerInRange, int tokens) => _values[layerInRange].AsSpan(0, tokens * KvWidth);

    internal Memory<float> KeysMemory(int layerInRange, int tokens) => _keys[layerInRange].AsMemory(0, tokens * KvWidth);

    internal Memory<float> ValuesMemory(int layerInRange, int tokens) => _values[layerInRange].AsMemory(0, tokens * KvWidth);

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
            Array.Resize(ref _keys[i], capacity * KvWidth);
            Array.Resize(ref _values[i], capacity * KvWidth);
        }
        Capacity = capacity;
    }

    internal void Advance(int tokens) => Length += tokens;
}
