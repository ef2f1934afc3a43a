namespace Tessera.Engine.Generation;

/// <summary>
/// One generated token: its id, the text it completes (may be empty while a UTF-8 sequence is incomplete),
/// its log-probability under the model and, when asked for, the most likely alternatives.
/// </summary>
public readonly record struct GeneratedToken(int Id, string Text, float LogProb, (int Id, float LogProb)[]? TopLogProbs);
