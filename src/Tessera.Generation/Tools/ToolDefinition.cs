using System.Text.Json;

namespace Tessera.Generation.Tools;

/// <summary>
/// A function a client offers the model (OpenAI's <c>tools[i].function</c>): its name, what it does, and its
/// parameters as a JSON schema.
/// </summary>
public sealed record ToolDefinition(string Name, string? Description = null, JsonElement? Parameters = null, bool? Strict = null)
{
    /// <summary>
    /// The tool as chat templates expect it in their <c>tools</c> variable, the shape Hugging Face transformers passes:
    /// <c>{"type": "function", "function": {"name", "description", "parameters"}}</c>, absent members left out.
    /// </summary>
    public Dictionary<string, object?> ToTemplateValue()
    {
        var function = new Dictionary<string, object?>(StringComparer.Ordinal) { ["name"] = Name };
        if (Description is not null)
            function["description"] = Description;
        if (Parameters is { } parameters)
            function["parameters"] = parameters;
        return new Dictionary<string, object?>(StringComparer.Ordinal) { ["type"] = "function", ["function"] = function };
    }
}
