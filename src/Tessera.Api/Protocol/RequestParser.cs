using System.Text.Json;
using Tessera.Generation;

namespace Tessera.Api.Protocol;

/// <summary>
/// Reads and validates the JSON bodies of /v1/chat/completions and /v1/completions. Every problem becomes an
/// <see cref="OpenAiError"/> (400, invalid_request_error) naming the field at fault. Unknown fields are ignored,
/// as OpenAI's clients send fields this server has no use for (user, metadata, store, ...).
/// </summary>
internal static class RequestParser
{
    public const int MaxStopSequences = 4;

    /// <summary>The longest stop string, in characters: stop strings are searched in every token's text.</summary>
    public const int MaxStopLength = 256;

    /// <summary>The most messages a conversation may hold.</summary>
    public const int MaxMessages = 4096;
    public const int MaxChatTopLogProbs = 20;
    public const int MaxCompletionLogProbs = 20;

    private static readonly HashSet<string> Roles = new(StringComparer.Ordinal) { "system", "developer", "user", "assistant", "tool", "function" };

    public static ParsedRequest ParseChat(JsonElement body, SamplingParameters defaults)
    {
        RequireObject(body);
        var common = ParseCommon(body, defaults);
        var messages = ParseMessages(body);
        var logprobs = Bool(body, "logprobs") ?? false;
        var top = Int(body, "top_logprobs");
        if (top is { } t)
        {
            if (t < 0 || t > MaxChatTopLogProbs)
                throw OpenAiError.Invalid($"top_logprobs must be between 0 and {MaxChatTopLogProbs}, got {t}.", "top_logprobs");
            if (!logprobs && t > 0)
                throw OpenAiError.Invalid("top_logprobs needs logprobs set to true.", "top_logprobs");
        }
        var maxTokens = MaxTokensOf(body, "max_completion_tokens") ?? MaxTokensOf(body, "max_tokens");
        RejectUnsupportedChat(body);
        return common with { Messages = messages, LogProbs = logprobs, TopLogProbs = top ?? 0, MaxTokens = maxTokens };
    }

    public static ParsedRequest ParseCompletion(JsonElement body, SamplingParameters defaults)
    {
        RequireObject(body);
        var common = ParseCommon(body, defaults);
        var (prompt, tokens) = ParsePrompt(body);
        var logprobs = Int(body, "logprobs");
        if (logprobs is { } lp && (lp < 0 || lp > MaxCompletionLogProbs))
            throw OpenAiError.Invalid($"logprobs must be between 0 and {MaxCompletionLogProbs}, got {lp}.", "logprobs");
        if (Int(body, "best_of") is { } bestOf && bestOf != 1)
            throw OpenAiError.Invalid("best_of must be 1: this server generates one completion per request.", "best_of");
        if (Str(body, "suffix") is { Length: > 0 })
            throw OpenAiError.Invalid("suffix (fill in the middle) is not supported.", "suffix");
        var echo = Bool(body, "echo") ?? false;
        return common with
        {
            Prompt = prompt,
            PromptTokens = tokens,
            LogProbs = logprobs is not null,
            TopLogProbs = logprobs ?? 0,
            MaxTokens = MaxTokensOf(body, "max_tokens"),
            Echo = echo,
        };
    }

    private static ParsedRequest ParseCommon(JsonElement body, SamplingParameters defaults)
    {
        var model = Str(body, "model");
        if (string.IsNullOrWhiteSpace(model))
            throw OpenAiError.Invalid("you must provide a model parameter.", "model");

        if (Int(body, "n") is { } n && n != 1)
            throw OpenAiError.Invalid($"n must be 1: this server generates one choice per request, got {n}.", "n");

        var stream = Bool(body, "stream") ?? false;
        var includeUsage = false;
        if (body.TryGetProperty("stream_options", out var options) && options.ValueKind != JsonValueKind.Null)
        {
            if (options.ValueKind != JsonValueKind.Object)
                throw TypeError("stream_options", "an object", options);
            includeUsage = Bool(options, "include_usage", "stream_options.include_usage") ?? false;
        }

        var sampling = defaults;
        if (Number(body, "temperature") is { } temperature)
        {
            if (temperature is < 0 or > 2)
                throw OpenAiError.Invalid($"temperature must be between 0 and 2, got {temperature}.", "temperature");
            sampling = sampling with { Temperature = (float)temperature };
        }
        if (Number(body, "top_p") is { } topP)
            sampling = sampling with { TopP = (float)topP };
        if (Int(body, "top_k") is { } topK)
            sampling = sampling with { TopK = topK };
        if (Number(body, "min_p") is { } minP)
            sampling = sampling with { MinP = (float)minP };
        if (Number(body, "repetition_penalty") is { } repetition)
            sampling = sampling with { RepetitionPenalty = (float)repetition };
        if (Number(body, "presence_penalty") is { } presence)
            sampling = sampling with { PresencePenalty = (float)presence };
        if (Number(body, "frequency_penalty") is { } frequency)
            sampling = sampling with { FrequencyPenalty = (float)frequency };
        if (Long(body, "seed") is { } seed)
            sampling = sampling with { Seed = unchecked((ulong)seed) };
        else
            sampling = sampling with { Seed = unchecked((ulong)Random.Shared.NextInt64()) };
        try
        {
            sampling.Validate();
        }
        catch (ArgumentException e)
        {
            var param = e.Message.Split(' ', 2)[0];
            throw OpenAiError.Invalid(e.Message, param.Contains('_') || param is "temperature" ? param : null);
        }

        return new ParsedRequest
        {
            Model = model,
            Stream = stream,
            IncludeUsage = includeUsage,
            Sampling = sampling,
            Stop = ParseStop(body),
            IgnoreEos = Bool(body, "ignore_eos") ?? false,
        };
    }

    private static List<string> ParseStop(JsonElement body)
    {
        if (!body.TryGetProperty("stop", out var stop) || stop.ValueKind == JsonValueKind.Null)
            return [];
        if (stop.ValueKind == JsonValueKind.String)
        {
            var only = stop.GetString()!;
            if (only.Length > MaxStopLength)
                throw OpenAiError.Invalid($"Each stop sequence may have at most {MaxStopLength} characters, got one of {only.Length}.", "stop");
            return only.Length > 0 ? [only] : [];
        }
        if (stop.ValueKind != JsonValueKind.Array)
            throw TypeError("stop", "a string or an array of strings", stop);
        var list = new List<string>();
        foreach (var item in stop.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
                throw TypeError("stop", "a string or an array of strings", item);
            if (item.GetString() is { Length: > 0 } s)
                list.Add(s);
        }
        if (list.FirstOrDefault(s => s.Length > MaxStopLength) is { } tooLong)
            throw OpenAiError.Invalid($"Each stop sequence may have at most {MaxStopLength} characters, got one of {tooLong.Length}.", "stop");
        if (list.Count > MaxStopSequences)
            throw OpenAiError.Invalid($"stop may hold at most {MaxStopSequences} sequences, got {list.Count}.", "stop");
        return list;
    }

    private static List<ChatMessage> ParseMessages(JsonElement body)
    {
        if (!body.TryGetProperty("messages", out var messages) || messages.ValueKind == JsonValueKind.Null)
            throw OpenAiError.Invalid("Missing required parameter: 'messages'.", "messages");
        if (messages.ValueKind != JsonValueKind.Array)
            throw TypeError("messages", "an array", messages);
        if (messages.GetArrayLength() > MaxMessages)
            throw OpenAiError.Invalid($"messages may hold at most {MaxMessages} messages, got {messages.GetArrayLength()}.", "messages");
        var list = new List<ChatMessage>();
        var i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var where = $"messages[{i}]";
            if (message.ValueKind != JsonValueKind.Object)
                throw TypeError(where, "an object", message);
            var role = Str(message, "role", $"{where}.role");
            if (role is null)
                throw OpenAiError.Invalid($"Missing required parameter: '{where}.role'.", $"{where}.role");
            if (!Roles.Contains(role))
                throw OpenAiError.Invalid($"Invalid value for '{where}.role': '{role}'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.", $"{where}.role");
            list.Add(new ChatMessage(role == "developer" ? "system" : role, Content(message, where)));
            i++;
        }
        if (list.Count == 0)
            throw OpenAiError.Invalid("messages must hold at least one message.", "messages");
        return list;
    }

    private static string Content(JsonElement message, string where)
    {
        if (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
            return string.Empty;
        if (content.ValueKind == JsonValueKind.String)
            return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array)
            throw TypeError($"{where}.content", "a string or an array of content parts", content);
        var text = new System.Text.StringBuilder();
        var j = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partWhere = $"{where}.content[{j}]";
            if (part.ValueKind != JsonValueKind.Object)
                throw TypeError(partWhere, "an object", part);
            var type = Str(part, "type", $"{partWhere}.type");
            if (type is not ("text" or "input_text"))
                throw OpenAiError.Invalid($"Content parts of type '{type}' are not supported; this server reads text parts only.", $"{partWhere}.type");
            text.Append(Str(part, "text", $"{partWhere}.text") ?? throw OpenAiError.Invalid($"Missing required parameter: '{partWhere}.text'.", $"{partWhere}.text"));
            j++;
        }
        return text.ToString();
    }

    private static (string? Text, int[]? Tokens) ParsePrompt(JsonElement body)
    {
        if (!body.TryGetProperty("prompt", out var prompt) || prompt.ValueKind == JsonValueKind.Null)
            throw OpenAiError.Invalid("Missing required parameter: 'prompt'.", "prompt");
        if (prompt.ValueKind == JsonValueKind.String)
            return (prompt.GetString()!, null);
        if (prompt.ValueKind != JsonValueKind.Array)
            throw TypeError("prompt", "a string, an array of strings or an array of token ids", prompt);
        var items = prompt.EnumerateArray().ToList();
        if (items.Count == 0)
            throw OpenAiError.Invalid("prompt must not be empty.", "prompt");
        if (items.All(e => e.ValueKind == JsonValueKind.Number))
            return (null, items.Select(e => e.TryGetInt32(out var id) && id >= 0 ? id : throw OpenAiError.Invalid("prompt token ids must be non-negative integers.", "prompt")).ToArray());
        if (items.Count > 1)
            throw OpenAiError.Invalid("prompt may hold one prompt only: this server generates one completion per request.", "prompt");
        var only = items[0];
        if (only.ValueKind == JsonValueKind.String)
            return (only.GetString()!, null);
        if (only.ValueKind == JsonValueKind.Array && only.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number))
            return (null, only.EnumerateArray().Select(e => e.TryGetInt32(out var id) && id >= 0 ? id : throw OpenAiError.Invalid("prompt token ids must be non-negative integers.", "prompt")).ToArray());
        throw TypeError("prompt", "a string, an array of strings or an array of token ids", only);
    }

    private static void RejectUnsupportedChat(JsonElement body)
    {
        if (body.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() > 0)
            throw OpenAiError.Invalid("tools (function calling) are not supported by this server.", "tools");
        if (body.TryGetProperty("response_format", out var format) && format.ValueKind == JsonValueKind.Object
            && Str(format, "type", "response_format.type") is { } type && type != "text")
            throw OpenAiError.Invalid($"response_format '{type}' is not supported by this server; only 'text' is.", "response_format");
    }

    private static int? MaxTokensOf(JsonElement body, string name)
    {
        var value = Int(body, name);
        if (value is < 1)
            throw OpenAiError.Invalid($"{name} must be at least 1, got {value}.", name);
        return value;
    }

    private static void RequireObject(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw OpenAiError.Invalid("The request body must be a JSON object.");
    }

    private static string? Str(JsonElement obj, string name, string? param = null)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw TypeError(param ?? name, "a string", value);
    }

    private static bool? Bool(JsonElement obj, string name, string? param = null)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw TypeError(param ?? name, "a boolean", value),
        };
    }

    private static double? Number(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var d) && double.IsFinite(d) ? d : throw TypeError(name, "a number", value);
    }

    private static int? Int(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) ? i : throw TypeError(name, "an integer", value);
    }

    private static long? Long(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var i) ? i : throw TypeError(name, "an integer", value);
    }

    private static OpenAiError TypeError(string param, string expected, JsonElement got) =>
        OpenAiError.Invalid($"Invalid type for '{param}': expected {expected}, but got {Describe(got.ValueKind)}.", param);

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
