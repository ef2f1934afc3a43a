namespace Tessera.Generation.Tools;

/// <summary>
/// A reply read for tool calls: the text meant for the user (null when there is none, as OpenAI sends
/// <c>content: null</c> beside calls) and the calls, in order (none when the reply is plain text).
/// </summary>
public sealed record ToolCallOutput(string? Content, IReadOnlyList<ToolCall> Calls)
{
    public bool HasCalls => Calls.Count > 0;
}
