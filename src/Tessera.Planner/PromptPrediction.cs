namespace Tessera.Planner;

/// <summary>
/// A pipeline's predicted prefill and time to first token for the prompt length of the request
/// (<see cref="PlanRequest.PromptTokens"/>); other lengths through <see cref="PipelinePlan.PrefillSeconds"/>.
/// </summary>
/// <param name="PromptTokens">The prompt length predicted for.</param>
/// <param name="PrefillSeconds">Every stage's prefill and every forward hop, in turn.</param>
/// <param name="TimeToFirstTokenSeconds">Prefill plus the sampled token's way back to the first stage.</param>
public sealed record PromptPrediction(int PromptTokens, double PrefillSeconds, double TimeToFirstTokenSeconds)
{
    /// <summary>Prompt tokens per second of prefill.</summary>
    public double PrefillTokensPerSecond => PrefillSeconds > 0 ? PromptTokens / PrefillSeconds : 0; // 0, not infinity: plans are written as JSON
}
