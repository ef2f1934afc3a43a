namespace Tessera.Generation.Tools;

/// <summary>
/// What a forced call of one tool looks like in a format: the literal text before the arguments object and after it.
/// A grammar that forces the call is <c>Before</c>, then the tool's parameters schema as JSON, then <c>After</c>.
/// The texts are the reply as this server's detokenizer shows it: control tokens (Llama's &lt;|python_tag|&gt;,
/// Mistral's [TOOL_CALLS]) are not in them.
/// </summary>
public sealed record ToolCallEnvelope(string Before, string After);
