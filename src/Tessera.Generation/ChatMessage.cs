using Tessera.Generation.Tools;

namespace Tessera.Generation;

/// <summary>
/// One turn of a conversation: a role ("system", "user", "assistant", "tool", ...) and its text. An assistant turn
/// may carry the <see cref="ToolCalls"/> it made (its text is then often empty); a "tool" turn carries the result of
/// one call, naming it by <see cref="ToolCallId"/>.
/// </summary>
public sealed record ChatMessage(string Role, string Content)
{
    /// <summary>The tools an assistant turn called, in order; null when it called none.</summary>
    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }

    /// <summary>A "tool" turn: the id of the call whose result <see cref="Content"/> is.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>The name a client gave the turn's author (OpenAI's <c>name</c>; for a tool result, the tool's name).</summary>
    public string? Name { get; init; }
}
