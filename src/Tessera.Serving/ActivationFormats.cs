using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>The activation formats between stages as people write them (f16, f32, q8): the one parser, for the CLI, the deployment API and the agents' commands.</summary>
public static class ActivationFormats
{
    /// <summary>Parses f16, f32 or q8 (any case); null or empty is the default, f16.</summary>
    /// <exception cref="FormatException">Any other text; the message lists the formats.</exception>
    public static ActivationFormat Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "f16" => ActivationFormat.F16,
        "f32" => ActivationFormat.F32,
        "q8" => ActivationFormat.Q8,
        _ => throw new FormatException($"Unknown activation format '{text}': use f16, f32 or q8."),
    };

    /// <summary>"f16", "f32" or "q8".</summary>
    public static string Name(ActivationFormat format) => format switch
    {
        ActivationFormat.F16 => "f16",
        ActivationFormat.F32 => "f32",
        ActivationFormat.Q8 => "q8",
        _ => format.ToString(),
    };

    /// <summary>Bytes per element of a hidden state on the wire (q8 adds a scale per row, which the planner neglects).</summary>
    public static int BytesPerElement(ActivationFormat format) => format switch
    {
        ActivationFormat.F32 => 4,
        ActivationFormat.Q8 => 1,
        _ => 2,
    };
}
