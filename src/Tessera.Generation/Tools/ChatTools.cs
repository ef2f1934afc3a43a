namespace Tessera.Generation.Tools;

/// <summary>
/// The tools of a chat request and how they may be used: what the chat template is given and what the reply is read
/// for. With <see cref="ToolChoiceMode.None"/> the template is not shown the tools (OpenAI: the model will not call
/// one) and the reply is plain text.
/// </summary>
public sealed record ChatTools(IReadOnlyList<ToolDefinition> Tools, ToolChoice Choice, bool ParallelCalls = true)
{
    /// <summary>The tools the prompt describes: none when the model may not call any.</summary>
    public IReadOnlyList<ToolDefinition> Offered => Choice.Mode == ToolChoiceMode.None ? [] : Tools;

    /// <summary>Whether the reply is read for tool calls.</summary>
    public bool ExpectsCalls => Offered.Count > 0;

    /// <summary>Whether a call of <paramref name="name"/> counts as one: a tool offered, and the one named when one is forced.</summary>
    public bool MayCall(string name) =>
        ExpectsCalls && (Choice.Mode == ToolChoiceMode.Function
            ? string.Equals(name, Choice.FunctionName, StringComparison.Ordinal)
            : Tools.Any(t => string.Equals(t.Name, name, StringComparison.Ordinal)));

    /// <summary>Whether the model is asked to call a tool whatever the conversation (<c>required</c> or a named tool).</summary>
    public bool MustCall => Choice.Mode is ToolChoiceMode.Required or ToolChoiceMode.Function;

    /// <summary>
    /// What constrained decoding must force when the model must call (<see cref="MustCall"/>; empty otherwise): for each
    /// tool it may call, the literal text around the arguments in <paramref name="format"/> and the tool, whose
    /// <see cref="ToolDefinition.Parameters"/> schema the arguments follow (any JSON object when it has none). A grammar
    /// for the reply is the alternation, over these, of Before, the arguments, After.
    /// </summary>
    public IReadOnlyList<(ToolDefinition Tool, ToolCallEnvelope Envelope)> ForcedCalls(ToolCallFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        return MustCall ? Tools.Where(t => MayCall(t.Name)).Select(t => (t, format.ForcedCallEnvelope(t.Name))).ToList() : [];
    }
}
