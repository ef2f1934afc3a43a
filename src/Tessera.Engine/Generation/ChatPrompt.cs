using System.Globalization;
using System.Text;
using System.Text.Json;
using Tessera.Engine.Templates;
using Tessera.Engine.Tokenization;
using Tessera.Generation;
using Tessera.Generation.Tools;
using Tessera.Jinja;

namespace Tessera.Engine.Generation;

/// <summary>Turns a conversation into prompt tokens with a model's chat template: one place for every service.</summary>
public static class ChatPrompt
{
    /// <summary>ChatML, used (as llama.cpp does) when a model carries no chat template.</summary>
    public const string FallbackTemplate =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// <summary>
    /// Renders <paramref name="messages"/> ending with the assistant's turn, with the model's BOS/EOS texts and the
    /// request's <paramref name="tools"/> (described as the template's tool-call format wants, see
    /// <see cref="ToolCallFormat.Prepare"/>).
    /// </summary>
    /// <exception cref="ConversationRejectedException">The template rejects the conversation or fails; the message says why.</exception>
    public static string Render(ChatTemplate template, Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages, ChatTools? tools = null) =>
        RenderWithTools(template, tokenizer, messages, tools).Rendered;

    private static (TemplateInput Input, string Rendered) RenderWithTools(ChatTemplate template, Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages, ChatTools? tools)
    {
        var format = template.ToolCallFormat;
        var input = format.Prepare(messages, tools);
        try
        {
            return (input, RenderInput(template, tokenizer, input.Messages, input.Tools));
        }
        catch (ConversationRejectedException) when (!format.TemplateRendersTools && tools is { ExpectsCalls: true })
        {
            // A template that refuses a system message (Gemma 2) gets the tool instructions in the first user message.
            input = format.Prepare(messages, tools, systemRole: false);
            return (input, RenderInput(template, tokenizer, input.Messages, input.Tools));
        }
    }

    private static string RenderInput(ChatTemplate template, Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages, IReadOnlyList<object?>? tools)
    {
        try
        {
            return template.Render(messages, new ChatTemplateOptions
            {
                AddGenerationPrompt = true,
                BosToken = tokenizer.BosId >= 0 ? tokenizer.TokenText(tokenizer.BosId) : "",
                EosToken = tokenizer.EosId >= 0 ? tokenizer.TokenText(tokenizer.EosId) : "",
                ExtraVariables = tools is null ? null : new Dictionary<string, object?>(StringComparer.Ordinal) { ["tools"] = tools },
            });
        }
        catch (TemplateException e)
        {
            throw new ConversationRejectedException(e.Message, e);
        }
    }

    /// <summary>
    /// Renders and tokenizes, parsing the special tokens the template wrote (e.g. &lt;|im_start|&gt;) but never
    /// those a message's content holds: chat content is text, so a user who types "&lt;|im_start|&gt;system" gets
    /// those characters, not a role. The model's BOS is added where it wants one, but not twice when the template
    /// already starts with it.
    /// </summary>
    /// <exception cref="ConversationRejectedException">
    /// The template rejects the conversation or fails; or a message holds a control token's text and the template
    /// changes that message, so it cannot be kept apart as text.
    /// </exception>
    public static int[] Tokenize(ChatTemplate template, Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages, ChatTools? tools = null)
    {
        var (input, rendered) = RenderWithTools(template, tokenizer, messages, tools);
        RequireNoControlTextInTools(tokenizer, input.Messages, input.Tools is null ? [] : tools!.Offered);
        messages = input.Messages;
        var tokens = messages.Any(m => tokenizer.FindControlText(m.Content) is not null)
            ? tokenizer.Encode(rendered, addSpecial: true, PlainSpans(template, tokenizer, messages, input.Tools, rendered))
            : tokenizer.Encode(rendered, addSpecial: true, parseSpecial: true);
        var bos = tokenizer.BosId;
        return tokens.Length >= 2 && bos >= 0 && tokens[0] == bos && tokens[1] == bos ? tokens[1..] : tokens;
    }

    /// <summary>
    /// Where the messages' contents are in <paramref name="rendered"/>: the template is rendered again with each content
    /// replaced by a marker (private-use characters no template writes), and the markers' places are the contents'
    /// when putting the contents back gives the same text.
    /// </summary>
    private static List<Range> PlainSpans(ChatTemplate template, Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages, IReadOnlyList<object?>? tools, string rendered)
    {
        var markers = messages.Select((_, i) => $"\uE000{i}\uE001").ToArray();
        var skeleton = RenderInput(template, tokenizer, messages.Select((m, i) => m with { Content = markers[i] }).ToList(), tools);
        var spans = new List<Range>();
        var text = new StringBuilder(rendered.Length);
        var pos = 0;
        while (pos < skeleton.Length)
        {
            var open = skeleton.IndexOf('\uE000', pos);
            if (open < 0)
            {
                text.Append(skeleton, pos, skeleton.Length - pos);
                break;
            }
            var close = skeleton.IndexOf('\uE001', open);
            text.Append(skeleton, pos, open - pos);
            if (close < 0 || !int.TryParse(skeleton.AsSpan(open + 1, close - open - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                || index >= messages.Count)
                throw Unkept(tokenizer, messages);
            spans.Add(new Range(text.Length, text.Length + messages[index].Content.Length));
            text.Append(messages[index].Content);
            pos = close + 1;
        }
        if (!string.Equals(text.ToString(), rendered, StringComparison.Ordinal))
            throw Unkept(tokenizer, messages);
        return spans;
    }

    /// <summary>
    /// Tool definitions and calls that the template writes itself (not as a message's content) are parsed with the
    /// template's markup, so a control token's text in them would become a control token: such a request is refused.
    /// </summary>
    private static void RequireNoControlTextInTools(Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition> tools)
    {
        foreach (var tool in tools)
        {
            var texts = new[] { tool.Name, tool.Description ?? "" }.Concat(tool.Parameters is { } p ? JsonStrings(p) : []);
            if (texts.Select(tokenizer.FindControlText).FirstOrDefault(t => t is not null) is { } found)
                throw new ConversationRejectedException($"the tool '{tool.Name}' holds '{found}', the text of one of the model's control tokens; remove that text from the tool's definition.");
        }
        foreach (var (message, index) in messages.Select((m, i) => (m, i)))
        {
            var texts = (message.ToolCalls ?? []).SelectMany(c => new[] { c.Id, c.Name, c.Arguments }).Append(message.ToolCallId ?? "").Append(message.Name ?? "");
            if (texts.Select(tokenizer.FindControlText).FirstOrDefault(t => t is not null) is { } found)
                throw new ConversationRejectedException($"message {index} ({message.Role}) holds '{found}', the text of one of the model's control tokens, in its tool calls, tool_call_id or name; remove that text.");
        }
    }

    private static IEnumerable<string> JsonStrings(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => [element.GetString()!],
        JsonValueKind.Array => element.EnumerateArray().SelectMany(JsonStrings),
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p => JsonStrings(p.Value).Prepend(p.Name)),
        _ => [],
    };

    private static ConversationRejectedException Unkept(Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages)
    {
        var (message, index) = messages.Select((m, i) => (m, i)).First(x => tokenizer.FindControlText(x.m.Content) is not null);
        return new ConversationRejectedException(
            $"message {index} ({message.Role}) holds '{tokenizer.FindControlText(message.Content)}', the text of one of the model's control tokens, and this " +
            "model's chat template changes the message, so it cannot be kept as plain text; remove that text from the message.");
    }
}
