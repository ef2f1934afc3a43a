using System.Buffers;
using System.Text;
using Tessera.Engine.Gguf;

namespace Tessera.Engine.Tokenization;

/// <summary>
/// llama.cpp's SentencePiece tokenizer: spaces become '▁' (with a space prefixed at the start and after special
/// tokens), characters are merged pairwise by the score of the merged token, highest first, and characters no
/// token covers fall back to byte tokens <c>&lt;0xXX&gt;</c>.
/// </summary>
internal sealed class SentencePieceTokenizer : Tokenizer
{
    private const char Space = '\u2581';

    public SentencePieceTokenizer(GgufMetadata metadata)
        : base(metadata, TokenizerKind.SentencePiece, escapesWhitespace: true, defaultBos: 1, defaultEos: 2, defaultUnknown: 0)
    {
        AddBosByDefault = metadata.TryGetBool("tokenizer.ggml.add_bos_token") ?? true;
        AddEosByDefault = metadata.TryGetBool("tokenizer.ggml.add_eos_token") ?? false;
        AddSpacePrefix = metadata.TryGetBool("tokenizer.ggml.add_space_prefix") ?? true;
    }

    public override bool AddBosByDefault { get; }

    public override bool AddEosByDefault { get; }

    public override bool AddSpacePrefix { get; }

    private struct Symbol
    {
        public int Start;
        public int Length;
        public int Prev;
        public int Next;
    }

    private readonly record struct Bigram(int Left, int Right, int Length);

    /// <summary>Highest score first; among equal scores the leftmost pair.</summary>
    private sealed class BigramOrder : IComparer<(float Score, int Left)>
    {
        public static readonly BigramOrder Instance = new();

        public int Compare((float Score, int Left) x, (float Score, int Left) y)
        {
            var byScore = y.Score.CompareTo(x.Score);
            return byScore != 0 ? byScore : x.Left.CompareTo(y.Left);
        }
    }

    private protected override void EncodeText(ReadOnlySpan<char> text, bool atStartOrAfterSpecial, List<int> output)
    {
        var prefix = AddSpacePrefix && atStartOrAfterSpecial ? 1 : 0;
        var length = text.Length + prefix;
        if (length == 0)
            return;
        var chars = ArrayPool<char>.Shared.Rent(length);
        var symbols = ArrayPool<Symbol>.Shared.Rent(length);
        try
        {
            if (prefix == 1)
                chars[0] = Space;
            for (var i = 0; i < text.Length; i++)
                chars[prefix + i] = text[i] == ' ' ? Space : text[i];
            var escaped = chars.AsSpan(0, length);

            // One symbol per code point.
            var count = 0;
            for (var i = 0; i < length;)
            {
                var width = char.IsHighSurrogate(escaped[i]) && i + 1 < length && char.IsLowSurrogate(escaped[i + 1]) ? 2 : 1;
                symbols[count] = new Symbol { Start = i, Length = width, Prev = count - 1, Next = i + width == length ? -1 : count + 1 };
                count++;
                i += width;
            }

            var queue = new PriorityQueue<Bigram, (float, int)>(count, BigramOrder.Instance);
            for (var i = 1; i < count; i++)
                TryAddBigram(escaped, symbols, i - 1, i, queue);

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
                TryAddBigram(escaped, symbols, left.Prev, bigram.Left, queue);
                TryAddBigram(escaped, symbols, bigram.Left, left.Next, queue);
            }

            for (var i = 0; i != -1; i = symbols[i].Next)
                Emit(escaped.Slice(symbols[i].Start, symbols[i].Length), output);
        }
        finally
        {
            ArrayPool<Symbol>.Shared.Return(symbols);
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    private void TryAddBigram(ReadOnlySpan<char> text, Symbol[] symbols, int left, int right, PriorityQueue<Bigram, (float, int)> queue)
    {
        if (left < 0 || right < 0)
            return;
        var length = symbols[left].Length + symbols[right].Length;
        if (!IdsBySpan.TryGetValue(text.Slice(symbols[left].Start, length), out var id))
            return;
        queue.Enqueue(new Bigram(left, right, length), (Scores[id], left));
    }

    private void Emit(ReadOnlySpan<char> piece, List<int> output)
    {
        if (IdsBySpan.TryGetValue(piece, out var id))
        {
            output.Add(id);
            return;
        }
        Span<byte> utf8 = piece.Length <= 16 ? stackalloc byte[48] : new byte[piece.Length * 3];
        var count = Encoding.UTF8.GetBytes(piece, utf8);
        for (var i = 0; i < count; i++)
        {
            var token = ByteToken(utf8[i]);
            if (token == NoToken)
                token = UnknownId;
            if (token != NoToken)
                output.Add(token);
        }
    }
}
