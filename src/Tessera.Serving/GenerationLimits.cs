namespace Tessera.Serving;

/// <summary>
/// When a session's generation ends: the one rule the driver (which tells the client) and the first stage (which
/// feeds tokens back without asking the driver) both apply, so the two never disagree on the last token.
/// </summary>
internal static class GenerationLimits
{
    /// <summary>
    /// "stop" when <paramref name="token"/> ends generation, "length" when <paramref name="generated"/> tokens
    /// reach <paramref name="maxTokens"/> or the next position (<paramref name="nextPosition"/>, where the token
    /// would go) would not fit <paramref name="maxPositions"/>; null when the session goes on.
    /// </summary>
    public static string? FinishReason(int token, int generated, int nextPosition, int maxTokens, int maxPositions, IReadOnlySet<int>? endTokens)
    {
        if (endTokens is not null && endTokens.Contains(token))
            return "stop";
        if (generated >= maxTokens || nextPosition + 1 > maxPositions)
            return "length";
        return null;
    }
}
