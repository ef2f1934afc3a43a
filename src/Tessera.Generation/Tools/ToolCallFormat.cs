using System.Security.Cryptography;
using System.Text.Json;

namespace Tessera.Generation.Tools;

/// <summary>
/// How a model family writes tool calls, and how its chat template is told about tools. Detected from the chat
/// template's text (<see cref="Detect"/>): the template that teaches a model its tool syntax is the surest sign of
/// which syntax it was trained on. Pure: no I/O; call ids come from a random source.
/// </summary>
public abstract class ToolCallFormat
{
    private const string Alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>Qwen 2.5, Hermes 2/3 and their kin: <c>&lt;tool_call&gt;\n{"name": ..., "arguments": ...}\n&lt;/tool_call&gt;</c>.</summary>
    public static ToolCallFormat Hermes { get; } = new HermesToolCallFormat();

    /// <summary>Llama 3.1 and later: a bare JSON object <c>{"name": ..., "parameters": ...}</c>, after &lt;|python_tag|&gt; or alone.</summary>
    public static ToolCallFormat Llama3 { get; } = new Llama3ToolCallFormat();

    /// <summary>Mistral (Nemo and later): <c>[TOOL_CALLS][{"name": ..., "arguments": ..., "id": ...}]</c>, ids of 9 alphanumerics.</summary>
    public static ToolCallFormat Mistral { get; } = new MistralToolCallFormat();

    /// <summary>Any template without a tool section: the tools are described in a system message and the model answers in JSON.</summary>
    public static ToolCallFormat Generic { get; } = new GenericToolCallFormat();

    /// <summary>A short name for logs and docs: "hermes", "llama3", "mistral", "generic".</summary>
    public abstract string Name { get; }

    /// <summary>Whether the chat template itself renders tools, tool calls and tool results (all but <see cref="Generic"/>).</summary>
    public virtual bool TemplateRendersTools => true;

    /// <summary>Texts that begin a call anywhere in a reply.</summary>
    protected virtual IReadOnlyList<string> Markers => [];

    /// <summary>Texts that begin a call only at the very start of a reply (after whitespace): the bare JSON of some formats.</summary>
    protected virtual IReadOnlyList<string> LeadingMarkers => [];

    /// <summary>The format a chat template teaches; <see cref="Generic"/> for one with no tool section, or no template.</summary>
    public static ToolCallFormat Detect(string? templateSource)
    {
        if (string.IsNullOrEmpty(templateSource))
            return Generic;
        if (templateSource.Contains("[TOOL_CALLS]", StringComparison.Ordinal))
            return Mistral;
        if (templateSource.Contains("<tool_call>", StringComparison.Ordinal))
            return Hermes;
        if (templateSource.Contains("<|python_tag|>", StringComparison.Ordinal)
            || (templateSource.Contains("<|start_header_id|>", StringComparison.Ordinal) && templateSource.Contains("\"parameters\"", StringComparison.Ordinal)))
            return Llama3;
        return Generic;
    }

    /// <summary>The literal text around the arguments of a forced call of <paramref name="toolName"/> (see <see cref="ToolCallEnvelope"/>).</summary>
    public abstract ToolCallEnvelope ForcedCallEnvelope(string toolName);

    /// <summary>An envelope of the common shape: <paramref name="open"/>, <c>{"name": NAME, "KEY": </c>, the arguments, <c>}</c>, <paramref name="close"/>.</summary>
    protected static ToolCallEnvelope CallObjectEnvelope(string open, string toolName, string argumentsKey, string close) =>
        new($"{open}{{\"name\": {JsonName(toolName)}, \"{argumentsKey}\": ", "}" + close);

    /// <summary>A name as a JSON string.</summary>
    protected static string JsonName(string name) => JsonSerializer.Serialize(name);

    /// <summary>
    /// What the chat template is given for a conversation: the messages (rewritten where the template cannot show tool
    /// calls and results) and the <c>tools</c> variable (null when no tool is offered).
    /// </summary>
    /// <param name="systemRole">Whether an instruction may go in a system message; false for templates that refuse one (Gemma).</param>
    public virtual TemplateInput Prepare(IReadOnlyList<ChatMessage> messages, ChatTools? tools, bool systemRole = true)
    {
        var offered = tools?.Offered ?? [];
        return new TemplateInput(messages, offered.Count == 0 ? null : offered.Select(t => (object?)t.ToTemplateValue()).ToList());
    }

    /// <summary>
    /// Reads a whole reply: the calls it makes and the text around them. A call must name a tool the request may call
    /// (<see cref="ChatTools.MayCall"/>) and be well-formed JSON, or the reply stays text; with parallel calls off only the
    /// first call is kept. Calls get fresh ids (<see cref="NewCallId"/>) unless the format carries valid ones.
    /// </summary>
    public ToolCallOutput Parse(string text, ChatTools tools)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(tools);
        if (!tools.ExpectsCalls)
            return new ToolCallOutput(text, []);
        var start = FindStart(text, out _);
        if (start < 0)
            return new ToolCallOutput(text, []);
        var parsed = ParseCalls(text[start..]);
        if (parsed is null || (parsed.Calls.Count == 0 && parsed.Response is null) || parsed.Calls.Any(c => !tools.MayCall(c.Name)))
            return new ToolCallOutput(text, []);
        var calls = parsed.Calls.Select(c => new ToolCall(c.Id is { } id && IsValidId(id) ? id : NewCallId(), c.Name, c.Arguments)).ToList();
        if (!tools.ParallelCalls && calls.Count > 1)
            calls.RemoveRange(1, calls.Count - 1);
        var content = string.Join("\n\n", new[] { text[..start].TrimEnd(), parsed.Response ?? "", parsed.Trailing.Trim() }.Where(s => s.Length > 0));
        return new ToolCallOutput(content.Length == 0 && calls.Count > 0 ? null : content, calls);
    }

    /// <summary>
    /// Where the first call begins in <paramref name="text"/>, or -1. <paramref name="heldFrom"/> is where text that may
    /// still become the start of a call begins (the text's length when none may): a stream sends text before it only.
    /// </summary>
    public int FindStart(string text, out int heldFrom)
    {
        heldFrom = text.Length;
        var first = JsonScan.SkipSpace(text, 0);
        foreach (var marker in LeadingMarkers)
        {
            var rest = text.AsSpan(first);
            if (rest.StartsWith(marker, StringComparison.Ordinal))
                return first;
            if (marker.AsSpan().StartsWith(rest, StringComparison.Ordinal))
                heldFrom = 0; // all whitespace, or a proper prefix of the marker
        }
        var start = -1;
        foreach (var marker in Markers)
        {
            var at = text.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0 && (start < 0 || at < start))
                start = at;
            for (var k = Math.Min(marker.Length - 1, text.Length); k > 0; k--)
            {
                if (text.AsSpan(text.Length - k).SequenceEqual(marker.AsSpan(0, k)))
                {
                    heldFrom = Math.Min(heldFrom, text.Length - k);
                    break;
                }
            }
        }
        return start;
    }

    /// <summary>A fresh call id: <c>call_</c> and 24 random alphanumerics, as OpenAI's look.</summary>
    public virtual string NewCallId() => "call_" + RandomAlphanumerics(24);

    /// <summary>Whether an id the model wrote may be kept (only formats whose calls carry ids keep them).</summary>
    protected virtual bool IsValidId(string id) => false;

    /// <summary>The calls at the start of <paramref name="text"/> (which begins at a marker); null when they are malformed.</summary>
    internal abstract ParsedCalls? ParseCalls(string text);

    public override string ToString() => Name;

    protected static string RandomAlphanumerics(int length) => RandomNumberGenerator.GetString(Alphanumerics, length);

    /// <summary><paramref name="length"/> alphanumerics that depend only on <paramref name="source"/> (from its SHA-256).</summary>
    protected static string DerivedAlphanumerics(string source, int length)
    {
        var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(source));
        return string.Create(length, hash, static (chars, bytes) =>
        {
            for (var i = 0; i < chars.Length; i++)
                chars[i] = Alphanumerics[bytes[i] % Alphanumerics.Length];
        });
    }

    protected static bool IsAlphanumeric(string id, int length) => id.Length == length && id.All(char.IsAsciiLetterOrDigit);

    /// <summary>
    /// A call from a JSON object <c>{"name": ..., "arguments": ...}</c> (or "parameters", as Llama writes it), the
    /// arguments kept as the JSON text of an object, or as given when the model wrote them as a string; null when the
    /// object is not a call.
    /// </summary>
    internal static RawCall? CallFrom(JsonElement call)
    {
        if (call.ValueKind != JsonValueKind.Object)
            return null;
        if (call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object && !call.TryGetProperty("name", out _))
            return CallFrom(function) is { } inner ? inner with { Id = StringOf(call, "id") } : null;
        if (StringOf(call, "name") is not { Length: > 0 } name)
            return null;
        var hasArguments = call.TryGetProperty("arguments", out var arguments) || call.TryGetProperty("parameters", out arguments);
        string text;
        if (!hasArguments || arguments.ValueKind == JsonValueKind.Null)
            text = "{}";
        else if (arguments.ValueKind == JsonValueKind.Object)
            text = arguments.GetRawText();
        else if (arguments.ValueKind == JsonValueKind.String)
            text = arguments.GetString()!;
        else
            return null;
        return new RawCall(name, text, StringOf(call, "id"));
    }

    private static string? StringOf(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>A call as the model wrote it.</summary>
    internal sealed record RawCall(string Name, string Arguments, string? Id);

    /// <summary>Calls read from a reply: the text after them, and for <see cref="Generic"/> a plain answer it unwrapped.</summary>
    internal sealed record ParsedCalls(IReadOnlyList<RawCall> Calls, string Trailing, string? Response = null);
}

/// <summary>What a chat template is given: the messages and the <c>tools</c> variable (null when none).</summary>
public sealed record TemplateInput(IReadOnlyList<ChatMessage> Messages, IReadOnlyList<object?>? Tools);
