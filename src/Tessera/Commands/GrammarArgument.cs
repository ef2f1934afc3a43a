using System.Text.Json;
using Tessera.Generation.Constraints;

namespace Tessera.Cli.Commands;

/// <summary><c>--grammar-file</c> and <c>--json-schema</c>: the grammar a command's output must follow, or null.</summary>
internal static class GrammarArgument
{
    public const string SchemaDescription = "Constrain the output to JSON: a JSON schema file, or 'object' for any JSON object (see docs/api.md, Structured output).";
    public const string GrammarDescription = "Constrain the output with a grammar in llama.cpp's GBNF notation, read from this file.";

    /// <exception cref="ArgumentException">The file is missing, or the schema or grammar cannot be used (the message says why).</exception>
    public static string? Resolve(string? grammarFile, string? jsonSchema)
    {
        if (grammarFile is not null && jsonSchema is not null)
            throw new ArgumentException("Give --grammar-file or --json-schema, not both.");
        try
        {
            if (grammarFile is not null)
            {
                var text = File.ReadAllText(grammarFile);
                GrammarCache.Parse(text);
                return text;
            }
            if (jsonSchema is null)
                return null;
            if (jsonSchema == "object")
                return JsonSchemaGrammar.AnyObject();
            using var schema = JsonDocument.Parse(File.ReadAllText(jsonSchema));
            return JsonSchemaGrammar.ForSchema(schema.RootElement);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or GrammarException or UnsupportedSchemaException)
        {
            throw new ArgumentException($"{grammarFile ?? jsonSchema}: {e.Message}", e);
        }
    }
}
