using Tessera.Jinja;
namespace Tessera.Engine.Templates;

/// <summary>The variables a chat template sees besides <c>messages</c>, and how it is rendered.</summary>
public sealed record ChatTemplateOptions
{
    /// <summary><c>add_generation_prompt</c>: end the prompt with the header of an assistant turn.</summary>
    public bool AddGenerationPrompt { get; init; }

    /// <summary><c>bos_token</c>, the model's beginning-of-sequence token text (e.g. "&lt;|begin_of_text|&gt;").</summary>
    public string BosToken { get; init; } = "";

    /// <summary><c>eos_token</c>, the model's end-of-sequence token text (e.g. "&lt;/s&gt;").</summary>
    public string EosToken { get; init; } = "";

    /// <summary>The clock behind <c>strftime_now</c>; <see cref="TimeProvider.System"/> when null.</summary>
    public TimeProvider? Clock { get; init; }

    /// <summary>
    /// More template variables, such as <c>tools</c>, <c>documents</c>, <c>date_string</c> or
    /// <c>enable_thinking</c>. Values are .NET strings, numbers, booleans, null, lists, dictionaries
    /// or <see cref="System.Text.Json.JsonElement"/>. They may not redefine <c>messages</c>,
    /// <c>add_generation_prompt</c>, <c>bos_token</c> or <c>eos_token</c>.
    /// </summary>
    public IReadOnlyDictionary<string, object?>? ExtraVariables { get; init; }

    /// <summary>Bounds on the render; <see cref="JinjaRenderLimits.Default"/> when null.</summary>
    public JinjaRenderLimits? Limits { get; init; }
}
