using System.Text.Json;

namespace Tessera.Generation.Tools;

/// <summary>One call of a tool, as OpenAI's API carries it: an id, the function's name and its arguments as JSON text.</summary>
public sealed record ToolCall(string Id, string Name, string Arguments)
{
    /// <summary>
    /// The call as chat templates read it: <c>{id, type: "function", function: {name, arguments}}</c>, with the arguments
    /// as a mapping parsed from the JSON text, as Hugging Face transformers expects them (Llama 3.1, Qwen 2.5 and Mistral
    /// write <c>arguments | tojson</c>, which of a string would give a quoted string). Arguments that are not a JSON
    /// object stay text.
    /// </summary>
    public Dictionary<string, object?> ToTemplateValue()
    {
        object? arguments = Arguments;
        try
        {
            using var document = JsonDocument.Parse(Arguments);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
                arguments = document.RootElement.Clone();
        }
        catch (JsonException)
        {
        }
        return new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["id"] = Id,
            ["type"] = "function",
            ["function"] = new Dictionary<string, object?>(StringComparer.Ordinal) { ["name"] = Name, ["arguments"] = arguments },
        };
    }
}
