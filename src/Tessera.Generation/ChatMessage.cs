namespace Tessera.Generation;

/// <summary>One turn of a conversation: a role ("system", "user", "assistant", "tool", ...) and its text.</summary>
public sealed record ChatMessage(string Role, string Content);
