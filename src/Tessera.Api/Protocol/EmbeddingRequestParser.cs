using System.Text.Json;
using Tessera.Generation;

namespace Tessera.Api.Protocol;

/// <summary>A parsed POST /v1/embeddings body: either texts or token ids, never both.</summary>
internal sealed record EmbeddingRequestBody(string Model, IReadOnlyList<string>? Texts, IReadOnlyList<int[]>? Tokens, bool Base64, int? Dimensions, EmbeddingPooling? Pooling)
{
    public int Count => Texts?.Count ?? Tokens!.Count;
}

/// <summary>
/// Reads OpenAI's embeddings request: <c>input</c> as a string, an array of strings, an array of token ids or an array of
/// arrays of token ids; <c>encoding_format</c> float or base64; <c>dimensions</c>; the extension <c>pooling</c>. Every
/// refusal is a 400 naming the field (and, for one input, its index).
/// </summary>
internal static class EmbeddingRequestParser
{
    private const string InputForms = "a string, an array of strings, an array of token ids or an array of arrays of token ids";

    public static EmbeddingRequestBody Parse(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw OpenAiError.Invalid("The request body must be a JSON object.");
        try
        {
            var model = Text(body, "model") ?? throw OpenAiError.Invalid("Missing required parameter: 'model'.", "model");
            var (texts, tokens) = Inputs(body);
            var base64 = Text(body, "encoding_format") switch
            {
                null or "float" => false,
                "base64" => true,
                var other => throw OpenAiError.Invalid($"encoding_format must be 'float' or 'base64', got '{other}'.", "encoding_format"),
            };
            int? dimensions = null;
            if (body.TryGetProperty("dimensions", out var d) && d.ValueKind != JsonValueKind.Null)
            {
                dimensions = d.ValueKind == JsonValueKind.Number && d.TryGetInt32(out var n) && n >= 1
                    ? n
                    : throw OpenAiError.Invalid($"dimensions must be a positive integer, got {d.GetRawText()}.", "dimensions");
            }
            var pooling = Text(body, "pooling") switch
            {
                null => (EmbeddingPooling?)null,
                "mean" => EmbeddingPooling.Mean,
                "cls" => EmbeddingPooling.Cls,
                "last" => EmbeddingPooling.Last,
                var other => throw OpenAiError.Invalid($"pooling must be 'mean', 'cls' or 'last', got '{other}'.", "pooling"),
            };
            return new EmbeddingRequestBody(model, texts, tokens, base64, dimensions, pooling);
        }
        catch (InvalidOperationException)
        {
            // The reader lets invalid UTF-8 and unpaired surrogate escapes through until a string is read.
            throw OpenAiError.Invalid("The request body holds text that is not valid Unicode: invalid UTF-8, or an unpaired surrogate escape such as \\ud800.");
        }
    }

    private static (List<string>? Texts, List<int[]>? Tokens) Inputs(JsonElement body)
    {
        if (!body.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
            throw OpenAiError.Invalid("Missing required parameter: 'input'.", "input");
        if (input.ValueKind == JsonValueKind.String)
            return ([NonEmpty(input, "input")], null);
        if (input.ValueKind != JsonValueKind.Array)
            throw OpenAiError.Invalid($"input must be {InputForms}, but got {Kind(input)}.", "input");
        var count = input.GetArrayLength();
        if (count == 0)
            throw OpenAiError.Invalid("input must not be empty.", "input");
        var first = input[0].ValueKind;
        if (first == JsonValueKind.Number)
            return (null, [Ids(input, "input")]);
        if (count > EmbeddingRequest.MaxInputs)
            throw OpenAiError.Invalid($"input holds {count} inputs; at most {EmbeddingRequest.MaxInputs} are allowed in one request.", "input");
        if (first == JsonValueKind.String)
            return (Each(input, JsonValueKind.String, "a string", NonEmpty), null);
        if (first == JsonValueKind.Array)
            return (null, Each(input, JsonValueKind.Array, "an array of token ids", Ids));
        throw OpenAiError.Invalid($"input must be {InputForms}, but input[0] is {Kind(input[0])}.", "input");
    }

    /// <summary>Every item of <paramref name="input"/>, each of the kind of the first, read by <paramref name="read"/>.</summary>
    private static List<T> Each<T>(JsonElement input, JsonValueKind kind, string what, Func<JsonElement, string, T> read)
    {
        var items = new List<T>(input.GetArrayLength());
        foreach (var item in input.EnumerateArray())
        {
            var where = $"input[{items.Count}]";
            items.Add(item.ValueKind == kind ? read(item, where) : throw OpenAiError.Invalid($"{where} must be {what} like the inputs before it, but got {Kind(item)}.", "input"));
        }
        return items;
    }

    private static string NonEmpty(JsonElement text, string where)
    {
        var value = text.GetString()!;
        return value.Length > 0 ? value : throw OpenAiError.Invalid($"{where} is an empty string; every input needs at least one character.", "input");
    }

    private static int[] Ids(JsonElement array, string where)
    {
        var ids = new int[array.GetArrayLength()];
        if (ids.Length == 0)
            throw OpenAiError.Invalid($"{where} is an empty array; every input needs at least one token.", "input");
        var i = 0;
        foreach (var id in array.EnumerateArray())
        {
            ids[i] = id.ValueKind == JsonValueKind.Number && id.TryGetInt32(out var value) && value >= 0
                ? value
                : throw OpenAiError.Invalid($"{where}[{i}] must be a token id (a non-negative integer), but got {id.GetRawText()}.", "input");
            i++;
        }
        return ids;
    }

    private static string? Text(JsonElement body, string name)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw OpenAiError.Invalid($"{name} must be a string, but got {Kind(value)}.", name);
    }

    private static string Kind(JsonElement value) => value.ValueKind.ToString().ToLowerInvariant();
}
