using System.Text;

namespace Tessera.Generation.Tools;

/// <summary>
/// Reads a reply for tool calls as it streams: text is passed on as it comes, except a tail that may be the start of a
/// call (a marker's first characters, whitespace before one, the start of a reply that may be bare JSON); from the start
/// of a call to the end, text is held, and <see cref="Finish"/> reads it. What was passed on followed by the
/// <see cref="ToolCallOutput.Content"/> that <see cref="Finish"/> returns is always <see cref="ToolCallFormat.Parse"/>'s
/// content of the whole reply, so streaming and non-streaming answers agree. Pure: no I/O.
/// </summary>
public sealed class ToolCallStream(ToolCallFormat format, ChatTools tools)
{
    private readonly StringBuilder _text = new();
    private int _sent;
    private bool _inCall;

    /// <summary>Adds a piece of the reply; returns the text that may be sent as content now (often the piece itself).</summary>
    public string Push(string piece)
    {
        if (!tools.ExpectsCalls)
            return piece;
        _text.Append(piece);
        if (_inCall)
            return string.Empty;
        var text = _text.ToString();
        var start = format.FindStart(text, out var heldFrom);
        var until = heldFrom;
        if (start >= 0)
        {
            _inCall = true;
            until = start;
        }
        while (until > _sent && char.IsWhiteSpace(text[until - 1]))
            until--;
        if (until <= _sent)
            return string.Empty;
        var release = text[_sent..until];
        _sent = until;
        return release;
    }

    /// <summary>
    /// At the end of the reply: the calls, and the content not yet sent (null when there is none).
    /// </summary>
    public ToolCallOutput Finish()
    {
        if (!tools.ExpectsCalls)
            return new ToolCallOutput(null, []);
        var output = format.Parse(_text.ToString(), tools);
        var content = output.Content ?? string.Empty;
        var rest = content.Length > _sent ? content[_sent..] : string.Empty;
        return new ToolCallOutput(rest.Length == 0 ? null : rest, output.Calls);
    }
}
