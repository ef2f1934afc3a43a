using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using Tessera.Engine.Gguf;

namespace Tessera.Engine.Tokenization;

/// <summary>
/// llama.cpp's byte-level BPE tokenizer: the pre-tokenizer named by <c>tokenizer.ggml.pre</c> splits text into
/// words, each word's UTF-8 bytes are spelled in GPT-2's byte alphabet, and adjacent symbols are merged by the rank
/// of their pair in <c>tokenizer.ggml.merges</c>, lowest rank first. Results are cached per word.
/// </summary>
internal sealed class BytePairTokenizer : Tokenizer
{
    private const int MaxCachedWords = 65_536;
    private const int MaxCachedWordLength = 128;

    private readonly Dictionary<string, int> _mergeRanks;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _mergeRanksBySpan;
    private readonly PreTokenizerConfig _pre;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    private int _cacheCount;

    public BytePairTokenizer(GgufMetadata metadata)
        // llama.cpp defaults BOS and EOS to 11 for BPE vocabularies that name neither.
        : base(metadata, TokenizerKind.BytePairEncoding, escapesWhitespace: false, defaultBos: 11, defaultEos: 11, defaultUnknown: NoToken)
    {
        var merges = metadata.TryGetStringArray("tokenizer.ggml.merges")
            ?? throw new GgufFormatException(metadata.FilePath, "metadata key 'tokenizer.ggml.merges' is missing; a 'gpt2' tokenizer needs its BPE merges.");
        _mergeRanks = new Dictionary<string, int>(merges.Length, StringComparer.Ordinal);
        for (var rank = 0; rank < merges.Length; rank++)
        {
            // llama.cpp splits a merge at the first space after its first character; keys are "left right".
            var merge = merges[rank];
            var space = merge.Length > 1 ? merge.IndexOf(' ', 1) : -1;
            var key = space < 0 ? " " : merge;
            _mergeRanks.TryAdd(key, rank);
        }
        _mergeRanksBySpan = _mergeRanks.GetAlternateLookup<ReadOnlySpan<char>>();
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();

        _pre = PreTokenizerConfig.Resolve(metadata.TryGetString("tokenizer.ggml.pre"));
        AddBosByDefault = metadata.TryGetBool("tokenizer.ggml.add_bos_token") ?? _pre.AddBos;
        AddEosByDefault = metadata.TryGetBool("tokenizer.ggml.add_eos_token") ?? false;
        AddSpacePrefix = metadata.TryGetBool("tokenizer.ggml.add_space_prefix") ?? false;
    }

    public override bool AddBosByDefault { get; }

    public override bool AddEosByDefault { get; }

    public override bool AddSpacePrefix { get; }

    /// <summary>The pre-tokenizer name from <c>tokenizer.ggml.pre</c> ("" when absent).</summary>
    public override string PreTokenizerName => _pre.Name;

    /// <summary>Whether the pre-tokenizer name is one llama.cpp knows (others get the Llama 3 pattern).</summary>
    public override bool PreTokenizerRecognized => _pre.Recognized;

    internal override bool CleanSpaces => _pre.CleanSpaces;

    private struct Symbol
    {
        public int Start;
        public int Length;
        public int Prev;
        public int Next;
    }

    private readonly record struct Bigram(int Left, int Right, int Length);

    /// <summary>Lowest rank first; among equal ranks the leftmost pair.</summary>
    private sealed class BigramOrder : IComparer<(int Rank, int Left)>
    {
        public static readonly BigramOrder Instance = new();

        public int Compare((int Rank, int Left) x, (int Rank, int Left) y)
        {
            var byRank = x.Rank.CompareTo(y.Rank);
            return byRank != 0 ? byRank : x.Left.CompareTo(y.Left);
        }
    }

    private protected override void EncodeText(ReadOnlySpan<char> text, bool atStartOrAfterSpecial, List<int> output)
    {
        var cps = ArrayPool<int>.Shared.Rent(text.Length);
        var word = ArrayPool<char>.Shared.Rent(16);
        try
        {
            var count = Codepoints.Decode(text, cps);
            var segments = new List<Segment>(count / 3 + 4);
            PreTokenizer.Split(cps.AsSpan(0, count), _pre.Rules, segments);
            Span<byte> utf8 = stackalloc byte[4];
            foreach (var segment in segments)
            {
                // Spell the word's UTF-8 bytes in the byte alphabet.
                if (word.Length < segment.Length * 4)
                {
                    ArrayPool<char>.Shared.Return(word);
                    word = ArrayPool<char>.Shared.Rent(segment.Length * 4);
                }
                var length = 0;
                for (var i = segment.Start; i < segment.Start + segment.Length; i++)
                {
                    var n = new Rune(cps[i]).EncodeToUtf8(utf8);
                    for (var j = 0; j < n; j++)
                        word[length++] = ByteLevelAlphabet.ByteToChar[utf8[j]];
                }
                EncodeWord(word.AsSpan(0, length), output);
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(word);
            ArrayPool<int>.Shared.Return(cps);
        }
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> output)
    {
        if (_cacheBySpan.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var start = output.Count;
        MergeWord(word, output);
        if (word.Length <= MaxCachedWordLength)
        {
            if (Interlocked.Increment(ref _cacheCount) > MaxCachedWords)
            {
                _cache.Clear();
                Interlocked.Exchange(ref _cacheCount, 0);
            }
            _cache.TryAdd(word.ToString(), output.GetRange(start, output.Count - start).ToArray());
        }
    }

    private void MergeWord(ReadOnlySpan<char> word, List<int> output)
    {
        if (_pre.IgnoreMerges && IdsBySpan.TryGetValue(word, out var whole))
        {
            output.Add(whole);
            return;
        }

        // Byte-alphabet characters are all in the BMP: one symbol per char.
        var symbols = ArrayPool<Symbol>.Shared.Rent(word.Length);
        var pairKey = ArrayPool<char>.Shared.Rent(word.Length + 1);
        try
        {
            for (var i = 0; i < word.Length; i++)
                symbols[i] = new Symbol { Start = i, Length = 1, Prev = i - 1, Next = i + 1 == word.Length ? -1 : i + 1 };

            var queue = new PriorityQueue<Bigram, (int, int)>(word.Length, BigramOrder.Instance);
            for (var i = 1; i < word.Length; i++)
                TryAddBigram(word, symbols, pairKey, i - 1, i, queue);

            while (queue.TryDequeue(out var bigram, out _))
            {
                ref var left = ref symbols[bigram.Left];
                ref var right = ref symbols[bigram.Right];
                if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Length)
                    continue;
                left.Length += right.Length;
                right.Length = 0;
                left.Next = right.Next;
                if (right.Next >= 0)
                    symbols[right.Next].Prev = bigram.Left;
                TryAddBigram(word, symbols, pairKey, left.Prev, bigram.Left, queue);
                TryAddBigram(word, symbols, pairKey, bigram.Left, left.Next, queue);
            }

            for (var i = 0; i != -1 && word.Length > 0; i = symbols[i].Next)
            {
                var piece = word.Slice(symbols[i].Start, symbols[i].Length);
                if (IdsBySpan.TryGetValue(piece, out var id))
                {
                    output.Add(id);
                    continue;
                }
                // llama.cpp looks up each UTF-8 byte of the piece alone; only ASCII can be a token then.
                foreach (var c in piece)
                {
                    if (c < 0x80 && IdsBySpan.TryGetValue(new ReadOnlySpan<char>(in c), out var single))
                        output.Add(single);
                }
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(pairKey);
            ArrayPool<Symbol>.Shared.Return(symbols);
        }
    }

    private void TryAddBigram(ReadOnlySpan<char> word, Symbol[] symbols, char[] pairKey, int left, int right, PriorityQueue<Bigram, (int, int)> queue)
    {
        if (left < 0 || right < 0)
            return;
        var l = word.Slice(symbols[left].Start, symbols[left].Length);
        var r = word.Slice(symbols[right].Start, symbols[right].Length);
        l.CopyTo(pairKey);
        pairKey[l.Length] = ' ';
        r.CopyTo(pairKey.AsSpan(l.Length + 1));
        if (!_mergeRanksBySpan.TryGetValue(pairKey.AsSpan(0, l.Length + 1 + r.Length), out var rank))
            return;
        queue.Enqueue(new Bigram(left, right, l.Length + r.Length), (rank, left));
    }
}
