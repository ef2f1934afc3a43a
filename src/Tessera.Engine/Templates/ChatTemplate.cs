using Tessera.Generation;
using Tessera.Generation.Tools;
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

    private ChatTemplate(JinjaTemplate template, ToolCallFormat toolCallFormat)
    {
        _template = template;
        ToolCallFormat = toolCallFormat;
    }

    /// <summary>How the model this template belongs to writes tool calls, detected from the template's text.</summary>
    public ToolCallFormat ToolCallFormat { get; }

    /// <exception cref="TemplateSyntaxException">The template is not valid, naming line, column and what was expected.</exception>
    public static ChatTemplate Parse(string source) =>
        new(JinjaTemplate.Parse(source, JinjaSyntaxOptions.HuggingFace), ToolCallFormat.Detect(source));

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
        variables["messages"] = messages.Select(ToTemplateValue).ToList();
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

    /// <summary>
    /// A message as Hugging Face transformers hands it to templates: a mapping with <c>role</c> and <c>content</c>, and
    /// <c>tool_calls</c>, <c>tool_call_id</c> and <c>name</c> only when the message has them. Absent, not none: Llama
    /// 3.1's template asks <c>'tool_calls' in message</c>, which a none value would answer yes for every message.
    /// </summary>
    private static Dictionary<string, object?> ToTemplateValue(ChatMessage message)
    {
        var value = new Dictionary<string, object?>(StringComparer.Ordinal) { ["role"] = message.Role, ["content"] = message.Content };
        if (message.ToolCalls is { Count: > 0 } calls)
            value["tool_calls"] = calls.Select(c => c.ToTemplateValue()).ToList();
        if (message.ToolCallId is not null)
            value["tool_call_id"] = message.ToolCallId;
        if (message.Name is not null)
            value["name"] = message.Name;
        return value;
    }
}
