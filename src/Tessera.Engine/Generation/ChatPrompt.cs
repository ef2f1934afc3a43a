using System.Globalization;
using System.Text;
using Tessera.Engine.Templates;
using Tessera.Engine.Tokenization;
using Tessera.Generation;
using Tessera.Jinja;

namespace Tessera.Engine.Generation;

/// <summary>Turns a conversation into prompt tokens with a model's chat template: one place for every service.</summary>
public static class ChatPrompt
{
    /// <summary>ChatML, used (as llama.cpp does) when a model carries no chat template.</summary>
    public const string FallbackTemplate =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// <summary>Renders <paramref name="messages"/> ending with the assistant's turn, with the model's BOS/EOS texts.</summary>
    /// <exception cref="ConversationRejectedException">The template rejects the conversation or fails; the message says why.</exception>
    public static string Render(ChatTemplate template, Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages)
    {
        try
        {
            return template.Render(messages, new ChatTemplateOptions
            {
                AddGenerationPrompt = true,
                BosToken = tokenizer.BosId >= 0 ? tokenizer.TokenText(tokenizer.BosId) : "",
                EosToken = tokenizer.EosId >= 0 ? tokenizer.TokenText(tokenizer.EosId) : "",
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
    public static int[] Tokenize(ChatTemplate template, Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages)
    {
        var rendered = Render(template, tokenizer, messages);
        var tokens = messages.Any(m => tokenizer.FindControlText(m.Content) is not null)
            ? tokenizer.Encode(rendered, addSpecial: true, PlainSpans(template, tokenizer, messages, rendered))
            : tokenizer.Encode(rendered, addSpecial: true, parseSpecial: true);
        var bos = tokenizer.BosId;
        return tokens.Length >= 2 && bos >= 0 && tokens[0] == bos && tokens[1] == bos ? tokens[1..] : tokens;
    }

    /// <summary>
    /// Where the messages' contents are in <paramref name="rendered"/>: the template is rendered again with each content
    /// replaced by a marker (private-use characters no template writes), and the markers' places are the contents'
    /// when putting the contents back gives the same text.
    /// </summary>
    private static List<Range> PlainSpans(ChatTemplate template, Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages, string rendered)
    {
        var markers = messages.Select((_, i) => $"\uE000{i}\uE001").ToArray();
        var skeleton = Render(template, tokenizer, messages.Select((m, i) => m with { Content = markers[i] }).ToList());
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

    private static ConversationRejectedException Unkept(Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages)
    {
        var (message, index) = messages.Select((m, i) => (m, i)).First(x => tokenizer.FindControlText(x.m.Content) is not null);
        return new ConversationRejectedException(
            $"message {index} ({message.Role}) holds '{tokenizer.FindControlText(message.Content)}', the text of one of the model's control tokens, and this " +
            "model's chat template changes the message, so it cannot be kept as plain text; remove that text from the message.");
    }
}
