namespace Tessera.Generation.Tools;

/// <summary>
/// Llama 3.1 and later: the reply is a JSON object <c>{"name": ..., "parameters": {...}}</c>, at its very start (the
/// &lt;|python_tag|&gt; before it is a control token that the detokenizer does not show; its text is accepted where it is
/// shown). Several objects separated by ";" or whitespace are parallel calls (Llama 3.1's template renders one call per
/// turn, but Llama 3.2 and 3.3 write several).
/// </summary>
internal sealed class Llama3ToolCallFormat : ToolCallFormat
{
    private const string PythonTag = "<|python_tag|>";

    public override string Name => "llama3";

    protected override IReadOnlyList<string> Markers => [PythonTag];

    protected override IReadOnlyList<string> LeadingMarkers => ["{"];

    public override ToolCallEnvelope ForcedCallEnvelope(string toolName) =>
        CallObjectEnvelope("", toolName, "parameters", "");

    internal override ParsedCalls? ParseCalls(string text)
    {
        var pos = 0;
        JsonScan.Skip(text, ref pos, PythonTag);
        var calls = new List<RawCall>();
        while (JsonScan.Read(text, ref pos) is { } json)
        {
            if (CallFrom(json) is not { } call)
                return null;
            calls.Add(call);
            JsonScan.Skip(text, ref pos, ";");
        }
        return calls.Count == 0 ? null : new ParsedCalls(calls, text[pos..]);
    }
}
