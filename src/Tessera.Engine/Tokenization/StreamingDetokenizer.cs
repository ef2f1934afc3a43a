using System.Text;

namespace Tessera.Engine.Tokenization;

/// <summary>
/// Turns generated token ids into text one id at a time, so that the chunks concatenate to exactly what
/// <see cref="Tokenizer.Decode"/> gives for the whole text. Each call returns the text completed so far; bytes of a
/// UTF-8 sequence split across tokens (byte tokens <c>&lt;0xE2&gt;</c>, BPE byte pieces) are held back until the
/// sequence completes, so no chunk ever holds a broken character or a U+FFFD for a character that completes later.
/// Invalid bytes become U+FFFD as soon as they are known to be invalid. Not thread-safe: one per stream.
/// </summary>
/// <remarks>
/// Where the text starts decides SentencePiece's leading space, which belongs only at the start of the whole text:
/// <see cref="AfterPrompt"/> continues the text of a prompt (the first generated piece keeps its space, as
/// llama.cpp's server sends it), <c>startOfText: true</c> starts a text (the first piece's space is dropped). For
/// tokenizers whose decoding cleans up spaces before punctuation (<c>clean_spaces</c>, GPT-2 style BPE), a space is held
/// back until the bytes that decide its fate have arrived, so the stream gives what the decode of all ids gives. What a
/// continuation cannot do is change text of the prompt: a space that ends the prompt stays where the decode of prompt
/// and continuation would drop it, and a character whose bytes the prompt (given as ids) leaves unfinished stays a
/// U+FFFD in the prompt's text. Prompts given as text never end that way.
/// </remarks>
public sealed class StreamingDetokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _renderSpecial;
    private readonly bool _initialRemoveSpace;
    private readonly Decoder _decoder;
    private readonly char[] _chars;
    private bool _removeSpace;

    // Clean-up of spaces (only for tokenizers that clean them): raw bytes of the text's tail. The first
    // _contextLength bytes were emitted already and only inform the clean-up of what follows.
    private readonly byte[]? _window;
    private readonly byte[]? _scratch;
    private readonly int[]? _origin;
    private readonly byte[]? _initialContext;
    private int _windowLength;
    private int _contextLength;

    /// <param name="tokenizer">The tokenizer whose ids will be fed.</param>
    /// <param name="startOfText">Whether the first id fed starts the text (then SentencePiece's prefix space is dropped).</param>
    /// <param name="renderSpecial">Whether control tokens (<c>&lt;|im_end|&gt;</c>) appear as their text.</param>
    public StreamingDetokenizer(Tokenizer tokenizer, bool startOfText = true, bool renderSpecial = false)
        : this(tokenizer, startOfText, renderSpecial, [])
    {
    }

    private StreamingDetokenizer(Tokenizer tokenizer, bool startOfText, bool renderSpecial, ReadOnlySpan<int> prompt)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _renderSpecial = renderSpecial;
        _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
        _chars = new char[Encoding.UTF8.GetMaxCharCount(tokenizer.MaxPieceLength + SpaceCleanup.Lookbehind + SpaceCleanup.Lookahead + 4)];

        // The prompt is read as Decode reads the start of a text: the prefix space goes with the first id, whatever it is.
        var removeSpace = startOfText && tokenizer.AddSpacePrefix;
        if (tokenizer.CleanSpaces)
        {
            var capacity = SpaceCleanup.Lookbehind + SpaceCleanup.Lookahead + tokenizer.MaxPieceLength + 1;
            _window = new byte[capacity];
            _scratch = new byte[capacity];
            _origin = new int[capacity];
        }
        var tail = new List<byte>();
        foreach (var id in prompt)
        {
            var piece = tokenizer.PieceBytes(id, renderSpecial);
            if (removeSpace && piece.Length > 0 && piece[0] == (byte)' ')
                piece = piece[1..];
            removeSpace = false;
            if (_window is not null)
            {
                foreach (var b in piece)
                    tail.Add(b);
                if (tail.Count > SpaceCleanup.Lookbehind)
                    tail.RemoveRange(0, tail.Count - SpaceCleanup.Lookbehind);
            }
        }
        _initialRemoveSpace = removeSpace;
        _initialContext = _window is null ? null : [.. tail];
        Reset();
    }

    /// <summary>
    /// A detokenizer for the text generated after <paramref name="prompt"/>: the prompt's text (its decode) followed
    /// by the chunks is the decode of the prompt and the generated ids.
    /// </summary>
    public static StreamingDetokenizer AfterPrompt(Tokenizer tokenizer, ReadOnlySpan<int> prompt, bool renderSpecial = false) =>
        new(tokenizer, startOfText: true, renderSpecial, prompt);

    /// <summary>Feeds one id; returns the text it completes (often the empty string while a character is pending).</summary>
    public string Add(int id)
    {
        var piece = _tokenizer.PieceBytes(id, _renderSpecial);
        if (_removeSpace && piece.Length > 0 && piece[0] == (byte)' ')
            piece = piece[1..];
        _removeSpace = false;
        if (piece.IsEmpty)
            return string.Empty;
        if (_window is null)
            return Chars(piece, flush: false);
        piece.CopyTo(_window.AsSpan(_windowLength));
        _windowLength += piece.Length;
        return Clean(final: false);
    }

    /// <summary>Ends the stream: returns held-back text (bytes of an unfinished character as U+FFFD) and starts over.</summary>
    public string Flush()
    {
        var text = _window is null || _windowLength == _contextLength ? string.Empty : Clean(final: true);
        var count = _decoder.GetChars(ReadOnlySpan<byte>.Empty, _chars, flush: true);
        Reset();
        return count == 0 ? text : text + new string(_chars, 0, count);
    }

    /// <summary>Drops held-back bytes and starts again where this detokenizer started (the start of a text, or after its prompt).</summary>
    public void Reset()
    {
        _decoder.Reset();
        _removeSpace = _initialRemoveSpace;
        if (_window is not null)
        {
            _initialContext!.CopyTo(_window, 0);
            _windowLength = _contextLength = _initialContext.Length;
        }
    }

    /// <summary>Releases the window's bytes whose clean-up is decided (all of them when <paramref name="final"/>) through the UTF-8 decoder.</summary>
    private string Clean(bool final)
    {
        var n = _windowLength;
        var decided = n;
        if (!final)
        {
            // A space is decided once the bytes after it that matter have arrived: the next one, and after a quote two more.
            var window = _window!;
            for (var i = Math.Max(_contextLength, n - SpaceCleanup.Lookahead); i < n; i++)
            {
                if (window[i] == (byte)' ' && (i + 1 == n || (window[i + 1] == (byte)'\'' && i + SpaceCleanup.Lookahead >= n)))
                {
                    decided = i;
                    break;
                }
            }
        }
        if (decided == _contextLength)
            return string.Empty;

        var scratch = _scratch.AsSpan(0, n);
        _window.AsSpan(0, n).CopyTo(scratch);
        var kept = SpaceCleanup.Apply(scratch, _origin);
        var emit = 0;
        for (var k = 0; k < kept; k++)
        {
            var from = _origin![k];
            if (from >= _contextLength && from < decided)
                scratch[emit++] = scratch[k];
        }
        var text = Chars(scratch[..emit], flush: false);

        // Keep the last decided bytes (as they came) as context, and whatever is not decided yet.
        var keepFrom = Math.Max(0, decided - SpaceCleanup.Lookbehind);
        _window.AsSpan(keepFrom, n - keepFrom).CopyTo(_window);
        _contextLength = decided - keepFrom;
        _windowLength = n - keepFrom;
        return text;
    }

    private string Chars(ReadOnlySpan<byte> bytes, bool flush)
    {
        if (bytes.IsEmpty)
            return string.Empty;
        var count = _decoder.GetChars(bytes, _chars, flush);
        return count == 0 ? string.Empty : new string(_chars, 0, count);
    }
}
