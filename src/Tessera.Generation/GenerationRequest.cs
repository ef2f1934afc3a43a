namespace Tessera.Generation;

/// <summary>The one check of a generation request, made by every service before it starts a session.</summary>
public static class GenerationRequest
{
    /// <summary>
    /// Throws when <paramref name="prompt"/> and <paramref name="options"/> cannot run in a context of
    /// <paramref name="contextLength"/> positions with a vocabulary of <paramref name="vocabularySize"/> tokens:
    /// <see cref="ArgumentException"/> naming the bad value (a token id outside the vocabulary among them), or
    /// <see cref="ContextFullException"/> when the prompt leaves no room for a token.
    /// </summary>
    public static void Validate(ReadOnlySpan<int> prompt, GenerationOptions options, int contextLength, int vocabularySize)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Sampling.Validate();
        if (options.MaxTokens < 1)
            throw new ArgumentException($"max_tokens must be at least 1, got {options.MaxTokens}.");
        if (options.TopLogProbs is < 0 or > GenerationOptions.MaxTopLogProbs)
            throw new ArgumentException($"top_logprobs must be between 0 and {GenerationOptions.MaxTopLogProbs}, got {options.TopLogProbs}.");
        if (options.Grammar is not null && options.IgnoreEndOfGeneration)
            throw new ArgumentException("A grammar-constrained output ends with an end-of-generation token; it cannot be combined with ignore_eos.");
        if (options.Grammar is not null)
        {
            try
            {
                Constraints.GrammarCache.Parse(options.Grammar);
            }
            catch (Constraints.GrammarException e)
            {
                throw new ArgumentException($"The grammar is not valid: {e.Message}", e);
            }
        }
        if (prompt.IsEmpty)
            throw new ArgumentException("The prompt has no tokens.", nameof(prompt));
        for (var i = 0; i < prompt.Length; i++)
        {
            if ((uint)prompt[i] >= (uint)vocabularySize)
                throw new ArgumentException($"Token id {prompt[i]} at position {i} of the prompt is outside the model's vocabulary (0 to {vocabularySize - 1}).", nameof(prompt));
        }
        if (prompt.Length + 1 > contextLength)
            throw new ContextFullException(prompt.Length + 1, contextLength);
    }
}
