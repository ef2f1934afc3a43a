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
    /// Renders and tokenizes, parsing special tokens the template wrote (e.g. &lt;|im_start|&gt;). The model's
    /// BOS is added where it wants one, but not twice when the template already starts with it.
    /// </summary>
    /// <exception cref="ConversationRejectedException">The template rejects the conversation or fails; the message says why.</exception>
    public static int[] Tokenize(ChatTemplate template, Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages)
    {
        var tokens = tokenizer.Encode(Render(template, tokenizer, messages), addSpecial: true, parseSpecial: true);
        var bos = tokenizer.BosId;
        return tokens.Length >= 2 && bos >= 0 && tokens[0] == bos && tokens[1] == bos ? tokens[1..] : tokens;
    }
}
