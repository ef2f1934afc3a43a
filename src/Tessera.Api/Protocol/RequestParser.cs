using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;
using Tessera.Generation;

namespace Tessera.Api.Protocol;

/// <summary>
/// Reads and validates the JSON bodies of /v1/chat/completions and /v1/completions. Every problem becomes an
/// <see cref="OpenAiError"/> (400, invalid_request_error) naming the field at fault. Unknown fields are ignored,
/// as OpenAI's clients send fields this server has no use for (user, metadata, store, ...).
/// </summary>
internal static partial class RequestParser
{
    public const int MaxStopSequences = 4;

    /// <summary>The longest stop string, in characters: stop strings are searched in every token's text.</summary>
    public const int MaxStopLength = 256;

    /// <summary>The most messages a conversation may hold.</summary>
    public const int MaxMessages = 4096;
    public const int MaxChatTopLogProbs = 20;
    public const int MaxCompletionLogProbs = 20;

    private static readonly HashSet<string> Roles = new(StringComparer.Ordinal) { "system", "developer", "user", "assistant", "tool", "function" };

    /// <summary>
    /// Reads a request body as JSON: malformed JSON, or nesting deeper than <see cref="JsonDocumentOptions.MaxDepth"/>'s
    /// default of 64, is a 400. The depth bound is what keeps a body of ten thousand nested arrays from costing more
    /// than a refusal, here and in the parser's walk over the document.
    /// </summary>
    public static async Task<JsonElement> ReadBodyAsync(Stream body, CancellationToken cancellationToken)
    {
        try
        {
            using var document = await JsonDocument.ParseAsync(body, default, cancellationToken).ConfigureAwait(false);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw OpenAiError.Invalid($"We could not parse the JSON body of your request: {e.Message} (The body must be a JSON object; see https://platform.openai.com/docs/api-reference.)");
        }
    }

    public static ParsedRequest ParseChat(JsonElement body, SamplingParameters defaults)
    {
        RequireObject(body);
        RequireUnicode(body);
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
        var tools = ParseTools(body);
        var grammar = ResponseFormat.GrammarOf(body);
        if (grammar is not null && common.Grammar is not null)
            throw OpenAiError.Invalid("Give either response_format or grammar, not both.", "grammar");
        return common with { Messages = messages, LogProbs = logprobs, TopLogProbs = top ?? 0, MaxTokens = maxTokens, Grammar = grammar ?? common.Grammar, Tools = tools };
    }

    public static ParsedRequest ParseCompletion(JsonElement body, SamplingParameters defaults)
    {
        RequireObject(body);
        RequireUnicode(body);
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
        if (Float(body, "temperature") is { } temperature)
        {
            if (temperature is < 0 or > 2)
                throw OpenAiError.Invalid($"temperature must be between 0 and 2, got {temperature}.", "temperature");
            sampling = sampling with { Temperature = temperature };
        }
        if (Float(body, "top_p") is { } topP)
            sampling = sampling with { TopP = topP };
        if (Int(body, "top_k") is { } topK)
            sampling = sampling with { TopK = topK };
        if (Float(body, "min_p") is { } minP)
            sampling = sampling with { MinP = minP };
        if (Float(body, "repetition_penalty") is { } repetition)
            sampling = sampling with { RepetitionPenalty = repetition };
        if (Float(body, "presence_penalty") is { } presence)
            sampling = sampling with { PresencePenalty = presence };
        if (Float(body, "frequency_penalty") is { } frequency)
            sampling = sampling with { FrequencyPenalty = frequency };
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
            Grammar = ResponseFormat.CustomGrammarOf(body),
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
        var callIds = new HashSet<string>(StringComparer.Ordinal);
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
            list.Add(WithToolFields(new ChatMessage(role == "developer" ? "system" : role, Content(message, where)), message, where, callIds));
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
        if (only.ValueKind == JsonValueKind.Array && only.GetArrayLength() == 0)
            throw OpenAiError.Invalid("prompt must not be empty.", "prompt");
        if (only.ValueKind == JsonValueKind.Array && only.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number))
            return (null, only.EnumerateArray().Select(e => e.TryGetInt32(out var id) && id >= 0 ? id : throw OpenAiError.Invalid("prompt token ids must be non-negative integers.", "prompt")).ToArray());
        throw TypeError("prompt", "a string, an array of strings or an array of token ids", only);
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

    /// <summary>
    /// Refuses text that is not Unicode. The JSON reader lets invalid UTF-8 bytes and unpaired surrogate escapes
    /// (<c>"\ud800"</c>) through inside strings and names, and throws <see cref="InvalidOperationException"/> only when
    /// such a string is read, or when a lookup by name passes such a name, which the handler would answer with a 500. One walk
    /// over the whole body finds them all before any field is read. The walk recurses once per level, which the
    /// reader's depth bound (64) keeps shallow.
    /// </summary>
    private static void RequireUnicode(JsonElement body)
    {
        if (FindInvalidText(body) is { } bad)
        {
            var where = bad.InName ? (bad.Path.Length == 0 ? "a property name of the body" : $"a property name in '{bad.Path}'") : $"'{bad.Path}'";
            throw OpenAiError.Invalid($"The request body holds text that is not valid Unicode in {where}: invalid UTF-8, or an unpaired surrogate escape such as \\ud800.",
                bad.Path.Length == 0 ? null : bad.Path);
        }
    }

    /// <summary>Where invalid text is: the path of the string, or of the object with the invalid name ("" for the body).</summary>
    private readonly record struct InvalidText(string Path, bool InName);

    private static InvalidText? FindInvalidText(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                // The raw value keeps its quotes.
                var raw = JsonMarshal.GetRawUtf8Value(element)[1..^1];
                return (HasEscapes(raw) ? Decodes(element) : Utf8.IsValid(raw)) ? null : new InvalidText("", false);
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (FindInvalidText(item) is { } inner)
                        return inner with { Path = $"[{i}]" + Dotted(inner.Path) };
                    i++;
                }
                return null;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    var name = JsonMarshal.GetRawUtf8PropertyName(property);
                    if (!(HasEscapes(name) ? Decodes(property) : Utf8.IsValid(name)))
                        return new InvalidText("", true);
                    if (FindInvalidText(property.Value) is { } inner)
                        return inner with { Path = property.Name + Dotted(inner.Path) };
                }
                return null;
            default:
                return null;
        }
    }

    private static string Dotted(string path) => path.Length == 0 || path[0] == '[' ? path : "." + path;

    /// <summary>
    /// Text without escapes is checked as UTF-8 in place, with no allocation; text with escapes must be unescaped by
    /// the reader (<see cref="Decodes(JsonElement)"/>), which is where an unpaired surrogate shows.
    /// </summary>
    private static bool HasEscapes(ReadOnlySpan<byte> raw) => raw.IndexOf((byte)'\\') >= 0;

    private static bool Decodes(JsonElement text)
    {
        try
        {
            _ = text.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool Decodes(JsonProperty property)
    {
        try
        {
            _ = property.Name;
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
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

    /// <summary>
    /// A number as the sampler holds it: one that overflows a float (1e39, 1e400) is refused here, as it would
    /// otherwise reach the sampler as an infinity that no range check below catches (repetition_penalty has no upper bound).
    /// </summary>
    private static float? Float(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.Number)
            throw TypeError(name, "a number", value);
        return value.TryGetDouble(out var d) && float.IsFinite((float)d)
            ? (float)d
            : throw OpenAiError.Invalid($"'{name}' is out of range: it must be a finite number no larger than {float.MaxValue:G3} in magnitude.", name);
    }

    private static int? Int(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.Number)
            throw TypeError(name, "an integer", value);
        return value.TryGetInt32(out var i) ? i : throw NotWhole(name, int.MinValue, int.MaxValue);
    }

    private static long? Long(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.Number)
            throw TypeError(name, "an integer", value);
        return value.TryGetInt64(out var i) ? i : throw NotWhole(name, long.MinValue, long.MaxValue);
    }

    private static OpenAiError NotWhole(string name, long min, long max) =>
        OpenAiError.Invalid($"'{name}' must be a whole number from {min} to {max}.", name);

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
