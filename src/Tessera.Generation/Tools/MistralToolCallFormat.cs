namespace Tessera.Generation.Tools;

/// <summary>
/// Mistral (Nemo and later): <c>[TOOL_CALLS][{"name": ..., "arguments": {...}, "id": ...}, ...]</c>. [TOOL_CALLS] is a
/// control token that the detokenizer does not show, so a reply that starts with <c>[{</c> is read as calls too. Call ids
/// are 9 alphanumerics: Mistral Nemo's template refuses a conversation with any other.
/// </summary>
internal sealed class MistralToolCallFormat : ToolCallFormat
{
    private const string Tag = "[TOOL_CALLS]";

    public override string Name => "mistral";

    protected override IReadOnlyList<string> Markers => [Tag];

    protected override IReadOnlyList<string> LeadingMarkers => ["[{"];

    public override ToolCallEnvelope ForcedCallEnvelope(string toolName) =>
        CallObjectEnvelope("[", toolName, "arguments", "]");

    public override string NewCallId() => RandomAlphanumerics(9);

    /// <summary>
    /// Ids that are not 9 alphanumerics (OpenAI's <c>call_…</c>, another model's) are replaced by 9 derived from them, the
    /// same in a call and in its result, so that a conversation begun elsewhere renders instead of being refused by the
    /// template. Derived, not random: the same conversation renders to the same prompt.
    /// </summary>
    public override TemplateInput Prepare(IReadOnlyList<ChatMessage> messages, ChatTools? tools, bool systemRole = true)
    {
        var input = base.Prepare(messages, tools, systemRole);
        if (!messages.Any(m => m.ToolCalls?.Any(c => !IsValidId(c.Id)) == true || (m.ToolCallId is { } id && !IsValidId(id))))
            return input;
        var rewritten = messages.Select(m => m with
        {
            ToolCalls = m.ToolCalls?.Select(c => c with { Id = NineCharacterId(c.Id) }).ToList(),
            ToolCallId = m.ToolCallId is null ? null : NineCharacterId(m.ToolCallId),
        }).ToList();
        return input with { Messages = rewritten };
    }

    private string NineCharacterId(string id) => IsValidId(id) ? id : DerivedAlphanumerics(id, 9);

    protected override bool IsValidId(string id) => IsAlphanumeric(id, 9);

    internal override ParsedCalls? ParseCalls(string text)
    {
        var pos = 0;
        JsonScan.Skip(text, ref pos, Tag);
        if (JsonScan.Read(text, ref pos) is not { } json)
            return null;
        var items = json.ValueKind == System.Text.Json.JsonValueKind.Array ? json.EnumerateArray().ToList() : [json];
        var calls = new List<RawCall>();
        foreach (var item in items)
        {
            if (CallFrom(item) is not { } call)
                return null;
            calls.Add(call);
        }
        return calls.Count == 0 ? null : new ParsedCalls(calls, text[pos..]);
    }
}
