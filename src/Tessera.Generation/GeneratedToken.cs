namespace Tessera.Generation;

/// <summary>
/// One generated token: its id, the text it completes (may be empty while a UTF-8 sequence is incomplete), its
/// log-probability under the model, the most likely alternatives when asked for, and, on the last token of a
/// generation only, why it ended.
/// </summary>
public readonly record struct GeneratedToken(int Id, string Text, float LogProb, (int Id, float LogProb)[]? TopLogProbs, FinishReason? Finish = null)
{
    /// <summary>True on the generation's last token.</summary>
    public bool IsLast => Finish is not null;
}
