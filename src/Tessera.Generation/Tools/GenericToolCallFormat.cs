using System.Text;
using System.Text.Json;

namespace Tessera.Generation.Tools;

/// <summary>
/// For chat templates that know nothing of tools (Gemma 2, Phi 3.5, the ChatML fallback), as llama.cpp's server does for
/// generic models: the tools and the reply's JSON shape are described in a system message (in the first user message
/// where the template refuses a system one), and the model replies with <c>{"tool_calls": [{"name": ..., "arguments":
/// {...}}]}</c> to call tools or <c>{"response": "..."}</c> to answer (a reply in any other shape is plain text).
/// Earlier calls and results are rewritten into that JSON as assistant and user turns, which every template shows.
/// </summary>
internal sealed class GenericToolCallFormat : ToolCallFormat
{
    private const string Fence = "```";

    public override string Name => "generic";

    public override bool TemplateRendersTools => false;

    protected override IReadOnlyList<string> LeadingMarkers => ["{", Fence];

    public override ToolCallEnvelope ForcedCallEnvelope(string toolName) =>
        CallObjectEnvelope("{\"tool_calls\": [", toolName, "arguments", "]}");

    public override TemplateInput Prepare(IReadOnlyList<ChatMessage> messages, ChatTools? tools, bool systemRole = true)
    {
        var rewritten = Rewrite(messages);
        if (tools is not { ExpectsCalls: true })
            return new TemplateInput(rewritten, null);
        var instructions = Instructions(tools);
        if (systemRole)
        {
            if (rewritten.Count > 0 && rewritten[0].Role == "system")
                rewritten[0] = rewritten[0] with { Content = rewritten[0].Content + "\n\n" + instructions };
            else
                rewritten.Insert(0, new ChatMessage("system", instructions));
        }
        else
        {
            var first = Math.Max(0, rewritten.FindIndex(m => m.Role == "user"));
            if (rewritten.Count > 0)
                rewritten[first] = rewritten[first] with { Content = instructions + "\n\n" + rewritten[first].Content };
        }
        return new TemplateInput(rewritten, null);
    }

    /// <summary>The system message that teaches the model the tools and how to reply.</summary>
    internal static string Instructions(ChatTools tools)
    {
        var text = new StringBuilder();
        text.Append("You can call the following tools. Each is given with a JSON schema of its parameters:\n\n");
        text.Append(ToolsJson(tools.Offered)).Append("\n\n");
        text.Append("To call tools, reply with nothing but a JSON object of this shape:\n");
        text.Append("{\"tool_calls\": [{\"name\": \"<tool name>\", \"arguments\": {<arguments matching its schema>}}]}\n");
        text.Append(tools.ParallelCalls ? "List several calls to run them in parallel.\n" : "Call one tool at a time.\n");
        switch (tools.Choice.Mode)
        {
            case ToolChoiceMode.Required:
                text.Append("You must call at least one tool now.");
                break;
            case ToolChoiceMode.Function:
                text.Append($"You must call the tool {JsonName(tools.Choice.FunctionName!)} now.");
                break;
            default:
                text.Append("To answer without calling a tool, reply with nothing but: {\"response\": \"<your answer>\"}");
                break;
        }
        return text.ToString();
    }

    private static string ToolsJson(IReadOnlyList<ToolDefinition> tools)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartArray();
            foreach (var tool in tools)
            {
                writer.WriteStartObject();
                writer.WriteString("name", tool.Name);
                if (tool.Description is not null)
                    writer.WriteString("description", tool.Description);
                if (tool.Parameters is { } parameters)
                {
                    writer.WritePropertyName("parameters");
                    parameters.WriteTo(writer);
                }
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>
    /// Assistant calls become assistant text holding the calls' JSON; tool results become one user turn (with the user
    /// turn after them, if any), so that templates that show only system, user and assistant turns, alternating, show them.
    /// </summary>
    private static List<ChatMessage> Rewrite(IReadOnlyList<ChatMessage> messages)
    {
        var result = new List<ChatMessage>(messages.Count);
        var mergeNextUser = false;
        foreach (var message in messages)
        {
            if (message.ToolCalls is { Count: > 0 } calls)
            {
                var json = CallsJson(calls);
                result.Add(new ChatMessage("assistant", message.Content.Length == 0 ? json : message.Content + "\n\n" + json));
                mergeNextUser = false;
            }
            else if (message.Role == "tool")
            {
                var json = ResultJson(message);
                if (mergeNextUser)
                    result[^1] = result[^1] with { Content = result[^1].Content + "\n" + json };
                else
                    result.Add(new ChatMessage("user", json));
                mergeNextUser = true;
            }
            else if (message.Role == "user" && mergeNextUser)
            {
                result[^1] = result[^1] with { Content = result[^1].Content + "\n\n" + message.Content };
                mergeNextUser = false;
            }
            else
            {
                result.Add(message);
                mergeNextUser = false;
            }
        }
        return result;
    }

    private static string CallsJson(IReadOnlyList<ToolCall> calls) => Json(writer =>
    {
        writer.WriteStartObject();
        writer.WriteStartArray("tool_calls");
        foreach (var call in calls)
        {
            writer.WriteStartObject();
            writer.WriteString("name", call.Name);
            writer.WritePropertyName("arguments");
            WriteJsonOrString(writer, call.Arguments);
            writer.WriteString("id", call.Id);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
    });

    private static string ResultJson(ChatMessage result) => Json(writer =>
    {
        writer.WriteStartObject();
        writer.WriteStartObject("tool_response");
        if (result.Name is not null)
            writer.WriteString("tool", result.Name);
        if (result.ToolCallId is not null)
            writer.WriteString("tool_call_id", result.ToolCallId);
        writer.WriteString("content", result.Content);
        writer.WriteEndObject();
        writer.WriteEndObject();
    });

    private static void WriteJsonOrString(Utf8JsonWriter writer, string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            document.RootElement.WriteTo(writer);
        }
        catch (JsonException)
        {
            writer.WriteStringValue(json);
        }
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            write(writer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    internal override ParsedCalls? ParseCalls(string text)
    {
        var pos = 0;
        var fenced = JsonScan.Skip(text, ref pos, Fence);
        if (fenced && text.AsSpan(pos).StartsWith("json", StringComparison.Ordinal))
            pos += 4;
        if (JsonScan.Read(text, ref pos) is not { ValueKind: JsonValueKind.Object } json)
            return null;
        if (fenced)
            JsonScan.Skip(text, ref pos, Fence);
        var calls = new List<RawCall>();
        if (json.TryGetProperty("tool_calls", out var many) && many.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in many.EnumerateArray())
            {
                if (CallFrom(item) is not { } call)
                    return null;
                calls.Add(call);
            }
            return new ParsedCalls(calls, text[pos..]);
        }
        if (json.TryGetProperty("tool_call", out var one))
            return CallFrom(one) is { } call ? new ParsedCalls([call], text[pos..]) : null;
        if (json.TryGetProperty("response", out var response))
            return new ParsedCalls([], text[pos..], response.ValueKind == JsonValueKind.String ? response.GetString() : response.GetRawText());
        return null;
    }
}
