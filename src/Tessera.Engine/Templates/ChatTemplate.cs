using Tessera.Generation;
using Tessera.Jinja;

namespace Tessera.Engine.Templates;

/// <summary>
/// A GGUF's <c>tokenizer.chat_template</c>, parsed once and applied to conversations the way
/// Hugging Face transformers' <c>apply_chat_template</c> does (trim_blocks and lstrip_blocks on,
/// <c>tools</c> and <c>documents</c> defined as none unless given).
/// </summary>
public sealed class ChatTemplate
{
    private static readonly HashSet<string> ReservedVariables =
        ["messages", "add_generation_prompt", "bos_token", "eos_token"];

    private readonly JinjaTemplate _template;

    private ChatTemplate(JinjaTemplate template)
    {
        _template = template;
    }

    /// <exception cref="TemplateSyntaxException">The template is not valid, naming line, column and what was expected.</exception>
    public static ChatTemplate Parse(string source) => new(JinjaTemplate.Parse(source, JinjaSyntaxOptions.HuggingFace));

    /// <summary>Renders the prompt text for <paramref name="messages"/>.</summary>
    /// <exception cref="TemplateRaisedException">The template rejected the conversation (its own message, e.g. roles must alternate).</exception>
    /// <exception cref="TemplateException">Rendering failed for another reason; the derived type says why.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, ChatTemplateOptions options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(options);

        var variables = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["tools"] = null,
            ["documents"] = null,
        };
        if (options.ExtraVariables != null)
        {
            foreach (var (name, value) in options.ExtraVariables)
            {
                if (ReservedVariables.Contains(name))
                {
                    throw new ArgumentException(
                        $"ExtraVariables may not set '{name}'; use the messages argument or the matching ChatTemplateOptions property instead.",
                        nameof(options));
                }
                variables[name] = value;
            }
        }
        variables["messages"] = messages;
        variables["add_generation_prompt"] = options.AddGenerationPrompt;
        variables["bos_token"] = options.BosToken;
        variables["eos_token"] = options.EosToken;

        var renderOptions = new JinjaRenderOptions
        {
            Clock = options.Clock ?? TimeProvider.System,
            Limits = options.Limits ?? JinjaRenderLimits.Default,
        };
        return _template.Render(variables, renderOptions);
    }
}
