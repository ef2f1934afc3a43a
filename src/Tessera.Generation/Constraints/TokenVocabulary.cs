namespace Tessera.Generation.Constraints;

/// <summary>
/// A model's tokens as a grammar sees them: the bytes each one adds to the output, and which tokens end a generation.
/// Tokens with no bytes (control tokens, padding) are never allowed by a grammar; end-of-generation tokens are
/// allowed exactly when the output so far is complete. The tokens are kept sorted by their bytes with the length of
/// the prefix each shares with the one before, so a mask is computed as a walk over a prefix tree without building
/// one: tokens that share a dead prefix are skipped together.
/// </summary>
public sealed class TokenVocabulary
{
    private readonly byte[][] _bytes;
    private readonly bool[] _isEnd;

    /// <param name="tokenBytes">The bytes of every token id (empty for tokens a grammar must never produce).</param>
    /// <param name="endOfGeneration">The ids that end a generation.</param>
    public TokenVocabulary(byte[][] tokenBytes, IEnumerable<int> endOfGeneration)
    {
        ArgumentNullException.ThrowIfNull(tokenBytes);
        ArgumentNullException.ThrowIfNull(endOfGeneration);
        _bytes = tokenBytes;
        _isEnd = new bool[tokenBytes.Length];
        EndMask = new ulong[(tokenBytes.Length + 63) / 64];
        foreach (var id in endOfGeneration)
        {
            if ((uint)id < (uint)tokenBytes.Length)
            {
                _isEnd[id] = true;
                EndMask[id >> 6] |= 1UL << (id & 63);
            }
        }

        var order = new List<int>(tokenBytes.Length);
        for (var id = 0; id < tokenBytes.Length; id++)
        {
            if (tokenBytes[id].Length > 0 && !_isEnd[id])
                order.Add(id);
        }
        order.Sort((a, b) =>
        {
            var c = tokenBytes[a].AsSpan().SequenceCompareTo(tokenBytes[b]);
            return c != 0 ? c : a.CompareTo(b);
        });
        SortedIds = [.. order];
        SharedPrefix = new int[SortedIds.Length];
        for (var i = 1; i < SortedIds.Length; i++)
            SharedPrefix[i] = tokenBytes[SortedIds[i - 1]].AsSpan().CommonPrefixLength(tokenBytes[SortedIds[i]]);
        MaxTokenLength = SortedIds.Length == 0 ? 0 : SortedIds.Max(id => tokenBytes[id].Length);
    }

    /// <summary>How many token ids there are.</summary>
    public int Count => _bytes.Length;

    internal int[] SortedIds { get; }

    /// <summary>For each entry of <see cref="SortedIds"/>, the bytes it shares with the entry before.</summary>
    internal int[] SharedPrefix { get; }

    internal int MaxTokenLength { get; }

    /// <summary>A token mask (one bit per id) with only the end-of-generation tokens set; never written.</summary>
    internal ulong[] EndMask { get; }

    public ReadOnlySpan<byte> BytesOf(int id) => _bytes[id];

    public bool IsEndOfGeneration(int id) => (uint)id < (uint)_isEnd.Length && _isEnd[id];
}
