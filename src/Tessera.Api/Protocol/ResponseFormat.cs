using System.Text.Json;
using Tessera.Generation.Constraints;

namespace Tessera.Api.Protocol;

/// <summary>
/// Structured output: turns a request's <c>response_format</c> (<c>json_object</c>, <c>json_schema</c>) or llama.cpp's
/// <c>grammar</c> field into the grammar decoding follows. A schema feature decoding cannot enforce is a 400 naming it,
/// with its place in the schema.
/// </summary>
internal static class ResponseFormat
{
    /// <summary>The longest grammar or schema text accepted, in characters.</summary>
    public const int MaxGrammarLength = 256 * 1024;

    /// <summary>The grammar for <c>response_format</c>, or null for text (absent, null or <c>{"type": "text"}</c>).</summary>
    public static string? GrammarOf(JsonElement body)
    {
        if (!body.TryGetProperty("response_format", out var format) || format.ValueKind == JsonValueKind.Null)
            return null;
        if (format.ValueKind != JsonValueKind.Object)
            throw OpenAiError.Invalid("response_format must be an object such as {\"type\": \"json_object\"}.", "response_format");
        if (!format.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
            throw OpenAiError.Invalid("response_format.type must be 'text', 'json_object' or 'json_schema'.", "response_format.type");
        switch (typeElement.GetString())
        {
            case "text":
                return null;
            case "json_object":
                return JsonSchemaGrammar.AnyObject();
            case "json_schema":
                if (!format.TryGetProperty("json_schema", out var spec) || spec.ValueKind != JsonValueKind.Object)
                    throw OpenAiError.Invalid("response_format.json_schema must be an object with a name and a schema.", "response_format.json_schema");
                if (!spec.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String || name.GetString() is not { Length: > 0 and <= 64 } n
                    || !n.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                    throw OpenAiError.Invalid("response_format.json_schema.name must be 1 to 64 letters, digits, '_' or '-'.", "response_format.json_schema.name");
                if (spec.TryGetProperty("strict", out var strict) && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
                    throw OpenAiError.Invalid("response_format.json_schema.strict must be a boolean.", "response_format.json_schema.strict");
                if (!spec.TryGetProperty("schema", out var schema) || schema.ValueKind == JsonValueKind.Null)
                    return JsonSchemaGrammar.AnyObject();
                if (schema.GetRawText().Length > MaxGrammarLength)
                    throw OpenAiError.Invalid($"response_format.json_schema.schema is longer than {MaxGrammarLength} characters.", "response_format.json_schema.schema");
                try
                {
                    return Checked(JsonSchemaGrammar.ForSchema(schema), "response_format.json_schema.schema");
                }
                catch (UnsupportedSchemaException e)
                {
                    throw OpenAiError.Invalid($"response_format.json_schema.schema: {e.Message}", "response_format.json_schema.schema");
                }
            default:
                throw OpenAiError.Invalid($"response_format.type '{typeElement.GetString()}' is not supported: use 'text', 'json_object' or 'json_schema'.", "response_format.type");
        }
    }

    /// <summary>llama.cpp's <c>grammar</c> field: a GBNF grammar, checked here so a bad one is a 400 before any work.</summary>
    public static string? CustomGrammarOf(JsonElement body)
    {
        if (!body.TryGetProperty("grammar", out var grammar) || grammar.ValueKind == JsonValueKind.Null)
            return null;
        if (grammar.ValueKind != JsonValueKind.String)
            throw OpenAiError.Invalid("grammar must be a string in GBNF (llama.cpp's grammar notation).", "grammar");
        var text = grammar.GetString()!;
        if (text.Length == 0)
            return null;
        if (text.Length > MaxGrammarLength)
            throw OpenAiError.Invalid($"grammar is longer than {MaxGrammarLength} characters.", "grammar");
        return Checked(text, "grammar");
    }

    private static string Checked(string grammar, string param)
    {
        try
        {
            GrammarCache.Parse(grammar);
            return grammar;
        }
        catch (GrammarException e)
        {
            throw OpenAiError.Invalid($"{param}: {e.Message}", param);
        }
    }
}
