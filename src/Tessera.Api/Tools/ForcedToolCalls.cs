using Tessera.Api.Protocol;
using Tessera.Generation.Constraints;
using Tessera.Generation.Tools;

namespace Tessera.Api.Tools;

/// <summary>
/// tool_choice <c>required</c> or a named function: decoding is constrained to one call in the model's own syntax
/// (<see cref="ToolCallGrammar"/>). Known only once the model is, as the syntax is its template's.
/// </summary>
internal static class ForcedToolCalls
{
    /// <summary>The request with the grammar that forces its call; unchanged when no call is forced.</summary>
    public static ParsedRequest Constrain(ParsedRequest request, ToolCallFormat format)
    {
        if (request.Tools is not { MustCall: true } tools)
            return request;
        string? grammar;
        try
        {
            grammar = ToolCallGrammar.For(tools, format);
        }
        catch (UnsupportedSchemaException e)
        {
            throw OpenAiError.Invalid($"A strict tool's parameters cannot be enforced: {e.Message} Set strict to false to have them followed as far as they can be.", "tools");
        }
        if (grammar is null)
            return request;
        if (request.Grammar is not null)
            throw OpenAiError.Invalid("tool_choice 'required' or a named function constrains the reply to a tool call; it cannot be combined with response_format or grammar.", "tool_choice");
        return request with { Grammar = grammar };
    }
}
