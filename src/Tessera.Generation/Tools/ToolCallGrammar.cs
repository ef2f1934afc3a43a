using System.Text;
using System.Text.Json;
using Tessera.Generation.Constraints;

namespace Tessera.Generation.Tools;

/// <summary>
/// The grammar that makes a model call a tool when it must (<c>tool_choice</c> <c>required</c> or a named function):
/// the reply is one call, in the model's own syntax, of a tool it may call, with arguments its parameters schema accepts.
/// </summary>
public static class ToolCallGrammar
{
    private static readonly JsonElement AnyObject = JsonDocument.Parse("""{"type": "object"}""").RootElement;

    /// <summary>
    /// GBNF (rule <c>root</c>) for one forced call in <paramref name="format"/>: the alternation, over
    /// <see cref="ChatTools.ForcedCalls"/>, of the envelope's text before the arguments, the arguments, and the text
    /// after; null when the model need not call. A tool's schema is followed strictly when it says <c>strict: true</c>,
    /// else leniently (features a grammar cannot enforce are left to the model, as llama.cpp does).
    /// </summary>
    /// <exception cref="UnsupportedSchemaException">A strict tool's schema uses a feature that cannot be enforced.</exception>
    public static string? For(ChatTools tools, ToolCallFormat format)
    {
        ArgumentNullException.ThrowIfNull(tools);
        var forced = tools.ForcedCalls(format);
        if (forced.Count == 0)
            return null;
        var rules = new StringBuilder();
        var calls = new List<string>(forced.Count);
        for (var i = 0; i < forced.Count; i++)
        {
            var (tool, envelope) = forced[i];
            var strictness = tool.Strict == true ? SchemaStrictness.Strict : SchemaStrictness.Lenient;
            var arguments = JsonSchemaGrammar.RulesFor(tool.Parameters ?? AnyObject, $"tool{i}", strictness, out var definitions);
            rules.Append(definitions);
            calls.Add($"{JsonSchemaGrammar.Literal(envelope.Before)} {arguments} {JsonSchemaGrammar.Literal(envelope.After)}");
        }
        return "root ::= " + string.Join(" | ", calls) + "\n" + rules;
    }
}
