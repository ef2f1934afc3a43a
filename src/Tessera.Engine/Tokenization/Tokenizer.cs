using System.Buffers;
using System.Globalization;
using System.Text;
using Tessera.Engine.Gguf;

namespace Tessera.Engine.Tokenization;

/// <summary>
/// A tokenizer built from GGUF metadata that reproduces llama.cpp's token ids: SentencePiece
/// (<c>tokenizer.ggml.model = "llama"</c>) or byte-level BPE (<c>"gpt2"</c>). Instances are immutable and safe to
/// share between threads.
/// </summary>
public abstract class Tokenizer
{
    /// <summary>The id used where a model has no such token (llama.cpp's <c>LLAMA_TOKEN_NULL</c>).</summary>
    public const int NoToken = -1;

    private const char SentencePieceSpace = '\u2581';

    private static readonly string[] EndOfTurnTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
        "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ];

    private static readonly string[] EndOfGenerationTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
    ];

    private readonly string[] _texts;
    private readonly TokenType[] _types;
    private readonly TokenAttributes[] _attributes;
    private readonly Dictionary<string, int> _ids;
    private readonly byte[] _pieces;
    private readonly int[] _pieceOffsets;
    private readonly int[] _specialTokens;
    private readonly HashSet<int> _endOfGeneration;
    private readonly int[] _byteTokens;

    private protected Tokenizer(GgufMetadata metadata, TokenizerKind kind, bool escapesWhitespace, int defaultBos, int defaultEos, int defaultUnknown)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        Kind = kind;
        var texts = metadata.TryGetStringArray("tokenizer.ggml.tokens")
            ?? throw new GgufFormatException(metadata.FilePath, "metadata key 'tokenizer.ggml.tokens' is missing; the file has no vocabulary to tokenize with.");
        _texts = (string[])texts.Clone();
        var n = _texts.Length;
        Scores = metadata.TryGetFloatArray("tokenizer.ggml.scores") ?? new float[n];
        if (Scores.Length < n)
            throw new GgufFormatException(metadata.FilePath, $"'tokenizer.ggml.scores' has {Scores.Length} entries for {n} tokens.");
        var rawTypes = metadata.TryGetInt32Array("tokenizer.ggml.token_type");
        if (rawTypes != null && rawTypes.Length < n)
            throw new GgufFormatException(metadata.FilePath, $"'tokenizer.ggml.token_type' has {rawTypes.Length} entries for {n} tokens.");

        _types = new TokenType[n];
        _attributes = new TokenAttributes[n];
        _ids = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (var i = 0; i < n; i++)
        {
            var text = _texts[i];
            if (text.Length == 0)
                _texts[i] = text = $"[EMPTY_{i}]";
            if (!_ids.TryAdd(text, i))
                throw new GgufFormatException(metadata.FilePath, $"duplicate token in vocabulary: '{text}' has ids {_ids[text]} and {i}.");
            var type = rawTypes == null ? TokenType.Normal : (TokenType)rawTypes[i];
            _types[i] = type is >= TokenType.Normal and <= TokenType.Byte ? type : TokenType.Undefined;
            _attributes[i] = _types[i] switch
            {
                TokenType.Normal => TokenAttributes.Normal,
                TokenType.Unknown => TokenAttributes.Unknown,
                TokenType.Control => TokenAttributes.Control,
                TokenType.UserDefined => TokenAttributes.UserDefined,
                TokenType.Unused => TokenAttributes.Unused,
                TokenType.Byte => TokenAttributes.Byte,
                _ => TokenAttributes.Undefined,
            };
        }
        IdsBySpan = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        EscapesWhitespace = escapesWhitespace;

        BosId = ReadSpecialId(metadata, "tokenizer.ggml.bos_token_id", defaultBos);
        EosId = ReadSpecialId(metadata, "tokenizer.ggml.eos_token_id", defaultEos);
        UnknownId = ReadSpecialId(metadata, "tokenizer.ggml.unknown_token_id", defaultUnknown);
        PaddingId = ReadSpecialId(metadata, "tokenizer.ggml.padding_token_id", NoToken);
        EotId = ReadSpecialId(metadata, "tokenizer.ggml.eot_token_id", NoToken);
        EomId = ReadSpecialId(metadata, "tokenizer.ggml.eom_token_id", NoToken);
        if (EotId == NoToken)
            EotId = FindAndMarkControl(EndOfTurnTexts);
        if (EomId == NoToken)
            EomId = FindAndMarkControl(["<|eom_id|>"]);
        _endOfGeneration = BuildEndOfGeneration();

        // llama.cpp always renders these gpt-oss tokens.
        foreach (var text in (ReadOnlySpan<string>)["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"])
        {
            if (_ids.TryGetValue(text, out var id))
                _attributes[id] = TokenAttributes.UserDefined;
        }

        _specialTokens = Enumerable.Range(0, n)
            .Where(id => (_attributes[id] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0)
            .OrderByDescending(id => _texts[id].Length)
            .ThenBy(id => id)
            .ToArray();
        ApplyModelSpecificAttributes(metadata);

        _byteTokens = new int[256];
        for (var b = 0; b < 256; b++)
            _byteTokens[b] = FindByteToken((byte)b);

        (_pieces, _pieceOffsets) = BuildPieces();
    }

    /// <summary>The algorithm this tokenizer runs.</summary>
    public TokenizerKind Kind { get; }

    /// <summary>Number of tokens in the vocabulary (ids are 0 to <c>VocabularySize - 1</c>).</summary>
    public int VocabularySize => _texts.Length;

    /// <summary>Beginning-of-sequence token, or <see cref="NoToken"/>.</summary>
    public int BosId { get; }

    /// <summary>End-of-sequence token, or <see cref="NoToken"/>.</summary>
    public int EosId { get; }

    /// <summary>End-of-turn token (<c>tokenizer.ggml.eot_token_id</c>, else found by text as llama.cpp does), or <see cref="NoToken"/>.</summary>
    public int EotId { get; }

    /// <summary>End-of-message token (<c>&lt;|eom_id|&gt;</c>), or <see cref="NoToken"/>.</summary>
    public int EomId { get; }

    /// <summary>Unknown token, or <see cref="NoToken"/>.</summary>
    public int UnknownId { get; }

    /// <summary>Padding token, or <see cref="NoToken"/>.</summary>
    public int PaddingId { get; }

    /// <summary>Whether <c>Encode(text, addSpecial: true)</c> prepends BOS (<c>tokenizer.ggml.add_bos_token</c>).</summary>
    public abstract bool AddBosByDefault { get; }

    /// <summary>Whether <c>Encode(text, addSpecial: true)</c> appends EOS (<c>tokenizer.ggml.add_eos_token</c>).</summary>
    public abstract bool AddEosByDefault { get; }

    /// <summary>Whether text gets a leading space before SentencePiece (and decoding drops it again).</summary>
    public abstract bool AddSpacePrefix { get; }

    /// <summary>The byte-level BPE pre-tokenizer (<c>tokenizer.ggml.pre</c>); empty for SentencePiece.</summary>
    public virtual string PreTokenizerName => "";

    /// <summary>
    /// False when <see cref="PreTokenizerName"/> is a name llama.cpp does not know; the Llama 3 pattern is used then,
    /// and a host may want to warn that token ids can differ from the model's training.
    /// </summary>
    public virtual bool PreTokenizerRecognized => true;

    /// <summary>Tokens that end generation: EOS, EOT, EOM and those llama.cpp recognises by text.</summary>
    public IReadOnlySet<int> EndOfGenerationIds => _endOfGeneration;

    /// <summary>Token scores (<c>tokenizer.ggml.scores</c>, zeros when absent).</summary>
    private protected float[] Scores { get; }

    /// <summary>Vocabulary lookup by text without allocating.</summary>
    private protected Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> IdsBySpan { get; }

    /// <summary>Whether normal tokens spell spaces as '▁' (SentencePiece) rather than in GPT-2's byte alphabet.</summary>
    private protected bool EscapesWhitespace { get; }

    /// <summary>Whether decoding removes spaces before punctuation (llama.cpp's <c>clean_spaces</c>).</summary>
    internal virtual bool CleanSpaces => false;

    /// <summary>The longest piece in bytes (for buffers).</summary>
    internal int MaxPieceLength { get; private set; }

    /// <summary>Creates the tokenizer a GGUF file's metadata describes.</summary>
    /// <exception cref="GgufFormatException">The metadata lacks a vocabulary or names an unsupported tokenizer model.</exception>
    public static Tokenizer FromGguf(GgufMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var model = metadata.TryGetString("tokenizer.ggml.model")
            ?? throw new GgufFormatException(metadata.FilePath, "metadata key 'tokenizer.ggml.model' is missing; the file does not describe a tokenizer.");
        return model switch
        {
            "llama" => new SentencePieceTokenizer(metadata),
            "gpt2" => new BytePairTokenizer(metadata),
            _ => throw new GgufFormatException(metadata.FilePath,
                $"tokenizer model '{model}' is not supported; Tessera supports 'llama' (SentencePiece) and 'gpt2' (byte-level BPE)."),
        };
    }

    /// <summary>
    /// Encodes text as llama.cpp's <c>llama_tokenize</c> does. <paramref name="addSpecial"/> adds BOS/EOS where the
    /// model asks for them (<see cref="AddBosByDefault"/>, <see cref="AddEosByDefault"/>);
    /// <paramref name="parseSpecial"/> turns the text of control tokens (<c>&lt;|im_start|&gt;</c>, <c>&lt;s&gt;</c>) into
    /// their ids, as chat templates need. User-defined tokens are always split out.
    /// </summary>
    public int[] Encode(string text, bool addSpecial, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 4);
        Encode(text, output, addSpecial, parseSpecial);
        return output.ToArray();
    }

    /// <summary>
    /// Encodes text with special tokens parsed everywhere but in <paramref name="plainSpans"/>: there the text of a
    /// control token stays text. A rendered chat is encoded so: the template's markup gives role tokens, the messages'
    /// contents (the spans) cannot. Elsewhere the ids are those of <see cref="Encode(string, bool, bool)"/>.
    /// </summary>
    public int[] Encode(string text, bool addSpecial, IReadOnlyList<Range> plainSpans)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(plainSpans);
        var output = new List<int>(text.Length / 3 + 4);
        Encode(text, output, addSpecial, parseSpecial: true, plainSpans);
        return output.ToArray();
    }

    /// <summary>The text of the first control token <paramref name="text"/> holds (say "&lt;|im_start|&gt;"), or null when it holds none.</summary>
    public string? FindControlText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var id in _specialTokens)
        {
            if ((_attributes[id] & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0 && text.Contains(_texts[id], StringComparison.Ordinal))
                return _texts[id];
        }
        return null;
    }

    /// <summary>Encodes text, appending the ids to <paramref name="output"/>.</summary>
    public void Encode(string text, List<int> output, bool addSpecial, bool parseSpecial = false) => Encode(text, output, addSpecial, parseSpecial, []);

    private void Encode(string text, List<int> output, bool addSpecial, bool parseSpecial, IReadOnlyList<Range> plainSpans)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(output);
        var fragments = new List<Fragment>();
        Partition(text, parseSpecial, plainSpans, fragments);

        if (addSpecial && AddBosByDefault && BosId != NoToken)
            output.Add(BosId);
        var afterSpecial = true;
        foreach (var fragment in fragments)
        {
            if (fragment.Token != NoToken)
            {
                output.Add(fragment.Token);
                afterSpecial = true;
            }
            else
            {
                EncodeText(text.AsSpan(fragment.Start, fragment.Length), afterSpecial, output);
                afterSpecial = false;
            }
        }
        if (addSpecial && AddEosByDefault && EosId != NoToken)
            output.Add(EosId);
    }

    /// <summary>Encodes one piece of text that holds no special tokens.</summary>
    /// <param name="atStartOrAfterSpecial">Whether the text starts the input or follows a special token.</param>
    private protected abstract void EncodeText(ReadOnlySpan<char> text, bool atStartOrAfterSpecial, List<int> output);

    /// <summary>
    /// Decodes ids to text as llama.cpp's <c>llama_detokenize</c> does (remove_special = false): the leading space
    /// SentencePiece added is dropped from the first token, control and unknown tokens are rendered only when
    /// <paramref name="renderSpecial"/>, and invalid UTF-8 becomes U+FFFD.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool renderSpecial = false)
    {
        var total = 0;
        foreach (var id in ids)
            total += PieceBytes(id, renderSpecial).Length;
        if (total == 0)
            return string.Empty;
        var buffer = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var length = 0;
            var removeSpace = AddSpacePrefix;
            foreach (var id in ids)
            {
                var piece = PieceBytes(id, renderSpecial);
                if (removeSpace && piece.Length > 0 && piece[0] == (byte)' ')
                    piece = piece[1..];
                removeSpace = false;
                piece.CopyTo(buffer.AsSpan(length));
                length += piece.Length;
            }
            if (CleanSpaces)
            {
                var origin = ArrayPool<int>.Shared.Rent(length);
                length = SpaceCleanup.Apply(buffer.AsSpan(0, length), origin);
                ArrayPool<int>.Shared.Return(origin);
            }
            return Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The bytes a token stands for, as llama.cpp's <c>llama_token_to_piece</c> gives them (no leading-space
    /// removal). They may be part of a UTF-8 sequence (byte tokens, BPE bytes). Control and unknown tokens give
    /// their text when <paramref name="renderSpecial"/>, else nothing.
    /// </summary>
    public ReadOnlySpan<byte> PieceBytes(int id, bool renderSpecial = true)
    {
        CheckId(id);
        if (!renderSpecial && (_attributes[id] & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0)
            return default;
        return _pieces.AsSpan(_pieceOffsets[id], _pieceOffsets[id + 1] - _pieceOffsets[id]);
    }

    /// <summary>A copy of <see cref="PieceBytes"/> with special tokens rendered.</summary>
    public byte[] TokenBytes(int id) => PieceBytes(id).ToArray();

    /// <summary>The token's text as stored in the vocabulary (<c>▁Hello</c>, <c>Ġworld</c>, <c>&lt;0x0A&gt;</c>).</summary>
    public string TokenText(int id)
    {
        CheckId(id);
        return _texts[id];
    }

    /// <summary>The token's type from <c>tokenizer.ggml.token_type</c>.</summary>
    public TokenType GetTokenType(int id)
    {
        CheckId(id);
        return _types[id];
    }

    /// <summary>Whether the token is a control token (including end-of-turn tokens llama.cpp promotes to control).</summary>
    public bool IsControl(int id)
    {
        CheckId(id);
        return (_attributes[id] & TokenAttributes.Control) != 0;
    }

    /// <summary>Whether generation should stop at this token (llama.cpp's <c>llama_vocab_is_eog</c>).</summary>
    public bool IsEndOfGeneration(int id) => id != NoToken && _endOfGeneration.Contains(id);

    /// <summary>Finds a token by its exact vocabulary text.</summary>
    public bool TryGetTokenId(string text, out int id) => _ids.TryGetValue(text, out id);

    /// <summary>Finds a token by its exact vocabulary text.</summary>
    public bool TryGetTokenId(ReadOnlySpan<char> text, out int id) => IdsBySpan.TryGetValue(text, out id);

    /// <summary>The byte fallback token for a byte (<c>&lt;0xXX&gt;</c>), or <see cref="NoToken"/>.</summary>
    private protected int ByteToken(byte b) => _byteTokens[b];

    private void CheckId(int id)
    {
        if ((uint)id >= (uint)_texts.Length)
            ThrowBadId(id);
    }

    private void ThrowBadId(int id) =>
        throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the vocabulary (0 to {_texts.Length - 1}).");

    private int ReadSpecialId(GgufMetadata metadata, string key, int fallback)
    {
        var id = fallback >= 0 && fallback < _texts.Length ? fallback : NoToken;
        var value = metadata.TryGetInteger(key);
        if (value is { } v && v >= 0 && v < _texts.Length)
            id = (int)v;
        return id;
    }

    private int FindAndMarkControl(ReadOnlySpan<string> texts)
    {
        foreach (var text in texts)
        {
            if (_ids.TryGetValue(text, out var id))
            {
                _attributes[id] |= TokenAttributes.Control;
                return id;
            }
        }
        return NoToken;
    }

    private HashSet<int> BuildEndOfGeneration()
    {
        var set = new HashSet<int>();
        foreach (var text in EndOfGenerationTexts)
        {
            if (_ids.TryGetValue(text, out var id))
            {
                set.Add(id);
                _attributes[id] |= TokenAttributes.Control;
            }
        }
        foreach (var id in (ReadOnlySpan<int>)[EosId, EotId, EomId])
        {
            if (id != NoToken)
                set.Add(id);
        }

        // gpt-oss / Solar: "<|end|>" ends a message, not the generation, when "<|return|>" and "<|call|>" exist.
        bool Has(string text) => _ids.TryGetValue(text, out var id) && set.Contains(id);
        if (Has("<|end|>") && ((Has("<|return|>") && Has("<|call|>")) || (Has("<|calls|>") && Has("<|flush|>"))))
        {
            var end = _ids["<|end|>"];
            set.Remove(end);
            _attributes[end] = TokenAttributes.UserDefined;
        }

        // Gemma 4: "</s>" is an ordinary token when "<|tool_response>" exists.
        if (Has("<|tool_response>") && Has("</s>"))
        {
            var s = _ids["</s>"];
            set.Remove(s);
            _attributes[s] = TokenAttributes.Normal;
        }
        return set;
    }

    private void ApplyModelSpecificAttributes(GgufMetadata metadata)
    {
        // llama.cpp: Phi-3's special tokens swallow the whitespace after them, except <unk>, <s>, <|endoftext|>.
        var name = (metadata.TryGetString("general.name") ?? "").ToLowerInvariant();
        if (name.Contains("phi-3", StringComparison.Ordinal) || name.Contains("phi3", StringComparison.Ordinal))
        {
            foreach (var id in _specialTokens)
                _attributes[id] |= TokenAttributes.RStrip;
            if (_ids.TryGetValue("</s>", out var eos))
                _attributes[eos] |= TokenAttributes.RStrip;
            foreach (var text in (ReadOnlySpan<string>)["<unk>", "<s>", "<|endoftext|>"])
            {
                if (_ids.TryGetValue(text, out var id))
                    _attributes[id] &= ~TokenAttributes.RStrip;
            }
        }
    }

    private int FindByteToken(byte b)
    {
        if (_ids.TryGetValue($"<0x{b:X2}>", out var id))
            return id;
        if (b < 0x80 && _ids.TryGetValue(((char)b).ToString(), out id))
            return id;
        return NoToken;
    }

    private (byte[] Pieces, int[] Offsets) BuildPieces()
    {
        var bytes = new List<byte>(_texts.Length * 6);
        var offsets = new int[_texts.Length + 1];
        var max = 0;
        for (var id = 0; id < _texts.Length; id++)
        {
            offsets[id] = bytes.Count;
            var attr = _attributes[id];
            var text = _texts[id];
            if ((attr & (TokenAttributes.Unknown | TokenAttributes.Control | TokenAttributes.UserDefined)) != 0)
                bytes.AddRange(Encoding.UTF8.GetBytes(text));
            else if ((attr & TokenAttributes.Normal) != 0 && EscapesWhitespace)
                AppendUnescaped(text, bytes);
            else if ((attr & TokenAttributes.Normal) != 0)
                AppendByteLevel(text, bytes);
            else if ((attr & TokenAttributes.Byte) != 0 && TryParseByteToken(text, out var b))
                bytes.Add(b);
            max = Math.Max(max, bytes.Count - offsets[id]);
        }
        offsets[_texts.Length] = bytes.Count;
        MaxPieceLength = max;
        return (bytes.ToArray(), offsets);
    }

    private static bool TryParseByteToken(string text, out byte value)
    {
        value = 0;
        return text.Length >= 5 && byte.TryParse(text.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Appends a byte-level BPE piece: each character stands for one byte (others pass through as UTF-8).</summary>
    private static void AppendByteLevel(string text, List<byte> output)
    {
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            var b = ByteLevelAlphabet.CharToByte(rune.Value);
            if (b >= 0)
            {
                output.Add((byte)b);
                continue;
            }
            var count = rune.EncodeToUtf8(utf8);
            for (var i = 0; i < count; i++)
                output.Add(utf8[i]);
        }
    }

    /// <summary>Appends a SentencePiece-style normal piece: the text with '▁' read as a space.</summary>
    private static void AppendUnescaped(string text, List<byte> output)
    {
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            var r = rune.Value == SentencePieceSpace ? new Rune(' ') : rune;
            var count = r.EncodeToUtf8(utf8);
            for (var i = 0; i < count; i++)
                output.Add(utf8[i]);
        }
    }

    private readonly record struct Fragment(int Start, int Length, int Token);

    /// <summary>
    /// Splits special tokens out of the text, longest token text first (llama.cpp's <c>tokenizer_st_partition</c>);
    /// a control token's text that overlaps one of <paramref name="plainSpans"/> stays text.
    /// </summary>
    private void Partition(string text, bool parseSpecial, IReadOnlyList<Range> plainSpans, List<Fragment> fragments)
    {
        if (text.Length == 0)
            return;
        var current = new List<Fragment> { new(0, text.Length, NoToken) };
        List<Fragment>? next = null;
        foreach (var id in _specialTokens)
        {
            var attr = _attributes[id];
            if (!parseSpecial && (attr & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0)
                continue;
            var tokenText = _texts[id];
            if (!text.Contains(tokenText, StringComparison.Ordinal))
                continue;

            next ??= new List<Fragment>(current.Count + 4);
            next.Clear();
            foreach (var fragment in current)
            {
                if (fragment.Token != NoToken)
                {
                    next.Add(fragment);
                    continue;
                }
                var pos = fragment.Start;
                var end = fragment.Start + fragment.Length;
                var searchFrom = pos;
                while (true)
                {
                    var found = text.AsSpan(searchFrom, end - searchFrom).IndexOf(tokenText.AsSpan(), StringComparison.Ordinal);
                    if (found < 0)
                    {
                        if (end > pos)
                            next.Add(new Fragment(pos, end - pos, NoToken));
                        break;
                    }
                    var match = searchFrom + found;
                    if ((attr & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0 && Overlaps(plainSpans, text.Length, match, tokenText.Length))
                    {
                        searchFrom = match + 1;
                        continue;
                    }
                    var leftLength = match - pos;
                    if ((attr & TokenAttributes.LStrip) != 0)
                    {
                        while (leftLength > 0 && IsCSpace(text[pos + leftLength - 1]))
                            leftLength--;
                    }
                    if (leftLength > 0)
                        next.Add(new Fragment(pos, leftLength, NoToken));
                    next.Add(new Fragment(match, tokenText.Length, id));
                    pos = match + tokenText.Length;
                    if ((attr & TokenAttributes.RStrip) != 0)
                    {
                        while (pos < end && IsCSpace(text[pos]))
                            pos++;
                    }
                    searchFrom = pos;
                }
            }
            (current, next) = (next, current);
        }
        fragments.AddRange(current);
    }

    private static bool Overlaps(IReadOnlyList<Range> spans, int textLength, int start, int length)
    {
        foreach (var span in spans)
        {
            var (spanStart, spanLength) = span.GetOffsetAndLength(textLength);
            if (start < spanStart + spanLength && spanStart < start + length)
                return true;
        }
        return false;
    }

    /// <summary>C's <c>isspace</c> in the "C" locale, which llama.cpp uses for lstrip/rstrip.</summary>
    private static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}
