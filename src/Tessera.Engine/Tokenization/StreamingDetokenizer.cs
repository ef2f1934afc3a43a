using System.Text;

namespace Tessera.Engine.Tokenization;

/// <summary>
/// Turns generated token ids into text one id at a time. Each call returns the text completed so far; bytes of a
/// UTF-8 sequence split across tokens (byte tokens <c>&lt;0xE2&gt;</c>, BPE byte pieces) are held back until the
/// sequence completes, so no chunk ever holds a broken character or a U+FFFD for a character that completes
/// later. Invalid bytes become U+FFFD as soon as they are known to be invalid. Not thread-safe: one per stream.
/// </summary>
/// <remarks>
/// With <c>startOfText: true</c> the chunks concatenate to <see cref="Tokenizer.Decode"/> of all ids (SentencePiece's
/// leading space is dropped from the first token, as llama.cpp's detokenize does), except that BPE decoding's
/// clean-up of spaces before punctuation is not applied while streaming, as in llama.cpp's server. With
/// <c>startOfText: false</c> (continuing after a prompt) each token gives exactly its piece, as
/// <c>llama_token_to_piece</c> does.
/// </remarks>
public sealed class StreamingDetokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _startOfText;
    private readonly bool _renderSpecial;
    private readonly Decoder _decoder;
    private readonly char[] _chars;
    private bool _removeSpace;

    /// <param name="tokenizer">The tokenizer whose ids will be fed.</param>
    /// <param name="startOfText">Whether the first id fed starts the text (then SentencePiece's prefix space is dropped).</param>
    /// <param name="renderSpecial">Whether control tokens (<c>&lt;|im_end|&gt;</c>) appear as their text.</param>
    public StreamingDetokenizer(Tokenizer tokenizer, bool startOfText = true, bool renderSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _startOfText = startOfText;
        _renderSpecial = renderSpecial;
        _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
        _chars = new char[Encoding.UTF8.GetMaxCharCount(tokenizer.MaxPieceLength + 4)];
        _removeSpace = startOfText && tokenizer.AddSpacePrefix;
    }

    /// <summary>Feeds one id; returns the text it completes (often the empty string while a character is pending).</summary>
    public string Add(int id)
    {
        var piece = _tokenizer.PieceBytes(id, _renderSpecial);
        if (_removeSpace && piece.Length > 0 && piece[0] == (byte)' ')
            piece = piece[1..];
        _removeSpace = false;
        if (piece.IsEmpty)
            return string.Empty;
        var count = _decoder.GetChars(piece, _chars, flush: false);
        return count == 0 ? string.Empty : new string(_chars, 0, count);
    }

    /// <summary>Ends the stream: returns held-back bytes of an unfinished character as U+FFFD and starts over.</summary>
    public string Flush()
    {
        var count = _decoder.GetChars(ReadOnlySpan<byte>.Empty, _chars, flush: true);
        Reset();
        return count == 0 ? string.Empty : new string(_chars, 0, count);
    }

    /// <summary>Drops held-back bytes and starts a new stream.</summary>
    public void Reset()
    {
        _decoder.Reset();
        _removeSpace = _startOfText && _tokenizer.AddSpacePrefix;
    }
}
