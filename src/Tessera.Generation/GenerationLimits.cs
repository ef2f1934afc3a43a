namespace Tessera.Generation;

/// <summary>
/// When a session's generation ends: the one rule applied wherever tokens are sampled or fed back — the local
/// generator and service, a pipeline's driver (which tells the client) and a pipeline's first stage (which feeds
/// sampled tokens back without asking the driver) — so that they never disagree on the last token.
/// </summary>
/// <param name="MaxTokens">Tokens to generate at most.</param>
/// <param name="MaxPositions">Positions the session may use: the prompt, and every generated token but the last.</param>
/// <param name="EndTokens">Tokens that end the generation (the model's end-of-generation ids); null: none do.</param>
public readonly record struct GenerationLimits(int MaxTokens, int MaxPositions, IReadOnlySet<int>? EndTokens)
{
    /// <summary>
    /// The limits of a session with a <paramref name="promptLength"/>-token prompt and a budget of
    /// <paramref name="maxTokens"/> in a context of <paramref name="contextLength"/> positions.
    /// </summary>
    public static GenerationLimits For(int promptLength, int maxTokens, int contextLength, IReadOnlySet<int>? endTokens) =>
        new(maxTokens, (int)Math.Min(contextLength, (long)promptLength + maxTokens), endTokens);

    /// <summary>
    /// Why the generation ends with <paramref name="token"/>, its <paramref name="generated"/>-th token (counting this
    /// one), which would take position <paramref name="position"/> when fed back: <see cref="FinishReason.Stop"/> for an
    /// end token, <see cref="FinishReason.Length"/> when the budget is spent or the position does not fit; null when
    /// the generation goes on.
    /// </summary>
    public FinishReason? After(int token, int generated, int position)
    {
        if (EndTokens is not null && EndTokens.Contains(token))
            return FinishReason.Stop;
        if (generated >= MaxTokens || position + 1 > MaxPositions)
            return FinishReason.Length;
        return null;
    }
}
