using Tessera.Engine.Tokenization;
using Tessera.Generation;

namespace Tessera.Engine.Generation;

/// <summary>
/// The text of each generated token, continuing the prompt's text (see <see cref="StreamingDetokenizer.AfterPrompt"/>):
/// the one place every generator (in this process or through a pipeline) turns ids into the texts it streams. The
/// last token gives whatever is still held back; an end-of-generation token gives no text of its own.
/// </summary>
public sealed class GenerationText
{
    private readonly StreamingDetokenizer _detokenizer;

    public GenerationText(Tokenizer tokenizer, ReadOnlySpan<int> prompt)
    {
        _detokenizer = StreamingDetokenizer.AfterPrompt(tokenizer, prompt);
    }

    /// <summary>The text of <paramref name="id"/>, the generation's last token when <paramref name="finish"/> is set.</summary>
    public string Next(int id, FinishReason? finish)
    {
        if (finish == FinishReason.Stop)
            return _detokenizer.Flush();
        var text = _detokenizer.Add(id);
        return finish is null ? text : text + _detokenizer.Flush();
    }
}
