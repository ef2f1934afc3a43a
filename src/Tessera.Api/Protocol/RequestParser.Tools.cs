using System.Text.Json;
using System.Text.RegularExpressions;
using Tessera.Generation;
using Tessera.Generation.Tools;

namespace Tessera.Api.Protocol;

/// <summary>Tool calling in chat requests: <c>tools</c>, <c>tool_choice</c>, <c>parallel_tool_calls</c>, and the tool fields of messages.</summary>
internal static partial class RequestParser
{
    /// <summary>The most tools a request may offer (OpenAI's bound).</summary>
    public const int MaxTools = 128;

    /// <summary>OpenAI's rule for function names: letters, digits, underscores and dashes, at most 64.</summary>
    [GeneratedRegex("^[a-zA-Z0-9_-]{1,64}$")]
    private static partial Regex FunctionName();

    /// <summary>The request's tools and how they may be used; null when it offers none.</summary>
    private static ChatTools? ParseTools(JsonElement body)
    {
        var tools = new List<ToolDefinition>();
        if (body.TryGetProperty("tools", out var array) && array.ValueKind != JsonValueKind.Null)
        {
            if (array.ValueKind != JsonValueKind.Array)
                throw TypeError("tools", "an array", array);
            if (array.GetArrayLength() > MaxTools)
                throw OpenAiError.Invalid($"tools may hold at most {MaxTools} tools, got {array.GetArrayLength()}.", "tools");
            var i = 0;
            foreach (var item in array.EnumerateArray())
            {
                var tool = ParseTool(item, $"tools[{i}]");
                if (tools.Any(t => t.Name == tool.Name))
                    throw OpenAiError.Invalid($"Duplicate tool name '{tool.Name}': each tool in tools must have a different function name.", $"tools[{i}].function.name");
                tools.Add(tool);
                i++;
            }
        }
        var parallel = Bool(body, "parallel_tool_calls") ?? true;
        var choice = ParseToolChoice(body, tools);
        return tools.Count == 0 ? null : new ChatTools(tools, choice, parallel);
    }

    private static ToolDefinition ParseTool(JsonElement tool, string where)
    {
        if (tool.ValueKind != JsonValueKind.Object)
            throw TypeError(where, "an object", tool);
        var type = Str(tool, "type", $"{where}.type");
        if (type != "function")
            throw OpenAiError.Invalid(type is null ? $"Missing required parameter: '{where}.type'." : $"Invalid value for '{where}.type': '{type}'. Supported values are: 'function'.", $"{where}.type");
        if (!tool.TryGetProperty("function", out var function) || function.ValueKind == JsonValueKind.Null)
            throw OpenAiError.Invalid($"Missing required parameter: '{where}.function'.", $"{where}.function");
        if (function.ValueKind != JsonValueKind.Object)
            throw TypeError($"{where}.function", "an object", function);
        var name = RequireFunctionName(function, $"{where}.function.name");
        var description = Str(function, "description", $"{where}.function.description");
        JsonElement? parameters = null;
        if (function.TryGetProperty("parameters", out var schema) && schema.ValueKind != JsonValueKind.Null)
            parameters = schema.ValueKind == JsonValueKind.Object ? schema : throw TypeError($"{where}.function.parameters", "an object (a JSON schema)", schema);
        var strict = Bool(function, "strict", $"{where}.function.strict");
        return new ToolDefinition(name, description, parameters, strict);
    }

    private static string RequireFunctionName(JsonElement function, string param)
    {
        var name = Str(function, "name", param) ?? throw OpenAiError.Invalid($"Missing required parameter: '{param}'.", param);
        if (!FunctionName().IsMatch(name))
            throw OpenAiError.Invalid($"Invalid '{param}': '{name}'. A function name holds 1 to 64 letters, digits, underscores or dashes.", param);
        return name;
    }

    private static ToolChoice ParseToolChoice(JsonElement body, List<ToolDefinition> tools)
    {
        if (!body.TryGetProperty("tool_choice", out var choice) || choice.ValueKind == JsonValueKind.Null)
            return ToolChoice.Auto;
        if (choice.ValueKind == JsonValueKind.String)
        {
            return choice.GetString() switch
            {
                "auto" => ToolChoice.Auto,
                "none" => ToolChoice.None,
                "required" when tools.Count == 0 => throw OpenAiError.Invalid("tool_choice 'required' needs tools: the request offers none.", "tool_choice"),
                "required" => ToolChoice.Required,
                var other => throw OpenAiError.Invalid($"Invalid value for 'tool_choice': '{other}'. Supported values are: 'auto', 'none', 'required', or an object naming a function.", "tool_choice"),
            };
        }
        if (choice.ValueKind != JsonValueKind.Object)
            throw TypeError("tool_choice", "a string or an object", choice);
        var type = Str(choice, "type", "tool_choice.type");
        if (type != "function")
            throw OpenAiError.Invalid(type is null ? "Missing required parameter: 'tool_choice.type'." : $"Invalid value for 'tool_choice.type': '{type}'. Supported values are: 'function'.", "tool_choice.type");
        if (!choice.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            throw OpenAiError.Invalid("Missing required parameter: 'tool_choice.function' (an object with the function's name).", "tool_choice.function");
        var name = RequireFunctionName(function, "tool_choice.function.name");
        if (!tools.Any(t => t.Name == name))
            throw OpenAiError.Invalid($"tool_choice names the function '{name}', which is not in tools.", "tool_choice.function.name");
        return ToolChoice.Function(name);
    }

    /// <summary>
    /// Adds a message's tool fields: an assistant's <c>tool_calls</c>, a tool result's <c>tool_call_id</c> (which must
    /// answer a call made earlier in the conversation), and <c>name</c>. <paramref name="callIds"/> holds the ids of the
    /// calls made so far; this message's calls are added (a set, so a long conversation is not searched once per result).
    /// </summary>
    private static ChatMessage WithToolFields(ChatMessage message, JsonElement json, string where, HashSet<string> callIds)
    {
        var name = Str(json, "name", $"{where}.name");
        IReadOnlyList<ToolCall>? calls = null;
        if (json.TryGetProperty("tool_calls", out var array) && array.ValueKind != JsonValueKind.Null)
        {
            if (message.Role != "assistant")
                throw OpenAiError.Invalid($"'{where}.tool_calls' is only allowed in messages with role 'assistant', not '{message.Role}'.", $"{where}.tool_calls");
            if (array.ValueKind != JsonValueKind.Array)
                throw TypeError($"{where}.tool_calls", "an array", array);
            var list = new List<ToolCall>();
            var j = 0;
            foreach (var item in array.EnumerateArray())
            {
                list.Add(ParseToolCall(item, $"{where}.tool_calls[{j}]"));
                j++;
            }
            calls = list.Count == 0 ? null : list;
            callIds.UnionWith(list.Select(c => c.Id));
        }
        string? callId = null;
        if (message.Role == "tool")
        {
            var param = $"{where}.tool_call_id";
            callId = Str(json, "tool_call_id", param) ?? throw OpenAiError.Invalid($"Missing required parameter: '{param}': a message with role 'tool' answers a tool call and must name its id.", param);
            if (!callIds.Contains(callId))
                throw OpenAiError.Invalid($"Invalid '{param}': '{callId}'. A message with role 'tool' must answer a tool call of an earlier assistant message; no call has that id.", param);
        }
        return message with { ToolCalls = calls, ToolCallId = callId, Name = name };
    }

    private static ToolCall ParseToolCall(JsonElement call, string where)
    {
        if (call.ValueKind != JsonValueKind.Object)
            throw TypeError(where, "an object", call);
        var id = Str(call, "id", $"{where}.id");
        if (string.IsNullOrEmpty(id))
            throw OpenAiError.Invalid($"Missing required parameter: '{where}.id'.", $"{where}.id");
        var type = Str(call, "type", $"{where}.type");
        if (type is not (null or "function"))
            throw OpenAiError.Invalid($"Invalid value for '{where}.type': '{type}'. Supported values are: 'function'.", $"{where}.type");
        if (!call.TryGetProperty("function", out var function) || function.ValueKind == JsonValueKind.Null)
            throw OpenAiError.Invalid($"Missing required parameter: '{where}.function'.", $"{where}.function");
        if (function.ValueKind != JsonValueKind.Object)
            throw TypeError($"{where}.function", "an object", function);
        var name = Str(function, "name", $"{where}.function.name");
        if (string.IsNullOrEmpty(name))
            throw OpenAiError.Invalid($"Missing required parameter: '{where}.function.name'.", $"{where}.function.name");
        var param = $"{where}.function.arguments";
        var arguments = function.TryGetProperty("arguments", out var args) ? args.ValueKind switch
        {
            JsonValueKind.String => args.GetString()!,
            JsonValueKind.Object => args.GetRawText(), // some clients send the object itself
            JsonValueKind.Null => "{}",
            _ => throw TypeError(param, "a string (the arguments as JSON)", args),
        } : throw OpenAiError.Invalid($"Missing required parameter: '{param}'.", param);
        return new ToolCall(id, name, arguments);
    }
}
