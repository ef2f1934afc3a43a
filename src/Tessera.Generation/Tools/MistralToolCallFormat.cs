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
