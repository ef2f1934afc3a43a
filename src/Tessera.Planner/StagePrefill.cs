namespace Tessera.Planner;

/// <summary>
/// What a stage costs when it takes in a prompt (prefill), kept per stage so that a plan predicts prefill and time to
/// first token for any prompt length, read back from JSON too (see <see cref="PipelinePlan.PrefillSeconds"/>).
/// A prompt of N tokens costs the stage <c>max((N x FlopsPerToken + FixedFlops) / FlopsPerSecond + N^2 x
/// AttentionFlopsPerTokenSquared / AttentionFlopsPerSecond, WeightReadSeconds)</c>: compute-bound once the prompt is
/// long, bound by reading the weights once when it is short; then the hop carries N activations:
/// <c>HopLatencySeconds + N x HopSecondsPerToken</c>.
/// </summary>
/// <param name="FlopsPerToken">FLOPs each prompt token costs in the stage's blocks (2 x parameters read).</param>
/// <param name="AttentionFlopsPerTokenSquared">
/// Attention's part that grows with the prompt: causal scores and weighted sums cost 2 x hidden size x N^2 FLOPs per block.
/// </param>
/// <param name="FixedFlops">FLOPs paid once per prompt: the output head of the last stage, for the last position only.</param>
/// <param name="FlopsPerSecond">
/// The device's FLOP/s on the stage's weights: measured, or derived from its kind, its bandwidth and, on a CPU, the
/// types the blocks are stored in (<see cref="PlannerOptions.CpuFlopsPerByteByType"/>). 0: that compute is not counted.
/// </param>
/// <param name="AttentionFlopsPerSecond">
/// The device's FLOP/s on attention, whose operands are activations whatever the weights' type: measured, or derived
/// from its kind and bandwidth alone (<see cref="PlannerOptions.CpuFlopsPerByte"/>). 0: attention is not counted.
/// </param>
/// <param name="FlopsMeasured">False when <paramref name="FlopsPerSecond"/> was derived rather than measured.</param>
/// <param name="WeightReadSeconds">Reading every weight the stage holds once at the device's bandwidth: the floor of any prefill.</param>
/// <param name="HopLatencySeconds">The fixed part of the hop to the next stage (0 for the last stage).</param>
/// <param name="HopSecondsPerToken">What each prompt token's activation adds to that hop (0 for the last stage).</param>
public sealed record StagePrefill(
    double FlopsPerToken,
    double AttentionFlopsPerTokenSquared,
    double FixedFlops,
    double FlopsPerSecond,
    double AttentionFlopsPerSecond,
    bool FlopsMeasured,
    double WeightReadSeconds,
    double HopLatencySeconds,
    double HopSecondsPerToken)
{
    /// <summary>Seconds the stage computes on a prompt of <paramref name="promptTokens"/> tokens (no hop).</summary>
    public double ComputeSeconds(int promptTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(promptTokens);
        double n = promptTokens;
        var weights = FlopsPerSecond > 0 ? (n * FlopsPerToken + FixedFlops) / FlopsPerSecond : 0;
        var attention = AttentionFlopsPerSecond > 0 ? n * n * AttentionFlopsPerTokenSquared / AttentionFlopsPerSecond : 0;
        return Math.Max(weights + attention, WeightReadSeconds);
    }

    /// <summary>Seconds the prompt's activations take to the next stage.</summary>
    public double HopSeconds(int promptTokens) =>
        HopLatencySeconds == 0 && HopSecondsPerToken == 0 ? 0 : HopLatencySeconds + promptTokens * HopSecondsPerToken;
}
