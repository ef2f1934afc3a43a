namespace Tessera.Generation.Tools;

/// <summary>
/// Qwen 2.5 and Hermes: each call is <c>&lt;tool_call&gt;\n{"name": ..., "arguments": {...}}\n&lt;/tool_call&gt;</c>,
/// several in a row for parallel calls, text before them allowed. The closing tag may be missing when the model ends
/// its turn right after the JSON.
/// </summary>
internal sealed class HermesToolCallFormat : ToolCallFormat
{
    private const string Open = "<tool_call>";
    private const string Close = "</tool_call>";

    public override string Name => "hermes";

    protected override IReadOnlyList<string> Markers => [Open];

    public override ToolCallEnvelope ForcedCallEnvelope(string toolName) =>
        CallObjectEnvelope(Open + "\n", toolName, "arguments", "\n" + Close);

    internal override ParsedCalls? ParseCalls(string text)
    {
        var calls = new List<RawCall>();
        var pos = 0;
        while (JsonScan.Skip(text, ref pos, Open))
        {
            if (JsonScan.Read(text, ref pos) is not { } json || CallFrom(json) is not { } call)
                return null;
            calls.Add(call);
            if (!JsonScan.Skip(text, ref pos, Close) && JsonScan.SkipSpace(text, pos) < text.Length)
                return null;
        }
        return calls.Count == 0 ? null : new ParsedCalls(calls, text[pos..]);
    }
}
