using System.Text;
using Tessera.Planner.Internal;

namespace Tessera.Planner;

/// <summary>One copy of the model: stages in order, covering every layer once.</summary>
public sealed record PipelinePlan(int Replica, IReadOnlyList<PlanStage> Stages)
{
    /// <summary>Predicted time for one session to decode one token: every stage's compute plus every hop, round the ring.</summary>
    public double TokenSeconds => Stages.Sum(s => s.TokenSeconds);

    /// <summary>Predicted decode speed of a single session (1 / <see cref="TokenSeconds"/>).</summary>
    public double SingleStreamTokensPerSecond => TokenSeconds > 0 ? 1 / TokenSeconds : double.PositiveInfinity;

    /// <summary>The slowest stage's time per token: with sessions in flight in every stage, the pipeline's pace.</summary>
    public double BottleneckSeconds => Stages.Max(s => Math.Max(s.ComputeSeconds, s.HopSeconds));

    /// <summary>Predicted tokens/s with enough sessions to keep every stage busy (1 / slowest stage), before batching gains.</summary>
    public double MaxThroughputTokensPerSecond => BottleneckSeconds > 0 ? 1 / BottleneckSeconds : double.PositiveInfinity;

    /// <summary>
    /// Median time per token of one session, every stage's compute with its tail and every hop with its link's jitter
    /// drawn (<see cref="PlannerOptions.LatencySamples"/> tokens from a fixed seed): see docs/planner.md, <em>Token
    /// latency</em>. 0 on pipelines built by hand.
    /// </summary>
    public double TokenLatencyP50Seconds { get; init; }

    /// <summary>
    /// 99th percentile of the time per token of one session (as <see cref="TokenLatencyP50Seconds"/>). Well below the
    /// sum of every hop's and stage's own p99 (<see cref="TokenSeconds"/> adds the hops' so): they are rarely late on
    /// the same token.
    /// </summary>
    public double TokenLatencyP99Seconds { get; init; }

    /// <summary>Prefill and time to first token for the request's <see cref="PlanRequest.PromptTokens"/>; null on pipelines built by hand.</summary>
    public PromptPrediction? Prompt { get; init; }

    /// <summary>
    /// Predicted seconds to take in a prompt of <paramref name="promptTokens"/> tokens: each stage's prefill (compute
    /// for the prompt, or reading its weights once when that is slower) and each forward hop carrying the prompt's
    /// activations, in turn.
    /// </summary>
    /// <exception cref="InvalidOperationException">The stages carry no prefill costs (built by hand, not by the planner).</exception>
    public double PrefillSeconds(int promptTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(promptTokens);
        var seconds = 0.0;
        for (var i = 0; i < Stages.Count; i++)
        {
            var p = Stages[i].Prefill ?? throw new InvalidOperationException($"Stage {i} of replica {Replica} carries no prefill costs: predict the plan with PoolPlanner first.");
            seconds += p.ComputeSeconds(promptTokens) + p.HopSeconds(promptTokens);
        }
        return seconds;
    }

    /// <summary>
    /// Predicted time to first token for a prompt of <paramref name="promptTokens"/> tokens: the prefill, then the
    /// sampled token's way back from the last stage to the first (the last stage's hop).
    /// </summary>
    public double TimeToFirstTokenSeconds(int promptTokens) =>
        PrefillSeconds(promptTokens) + (Stages.Count > 1 ? Stages[^1].HopSeconds : 0);

    internal void Describe(StringBuilder sb)
    {
        sb.Append("  replica ").Append(Replica).Append(": ").Append(Stages.Count).Append(Stages.Count == 1 ? " stage, " : " stages, ")
            .Append(Bytes.Rate(SingleStreamTokensPerSecond)).Append(" single-stream, ")
            .Append(Bytes.Rate(MaxThroughputTokensPerSecond)).Append(" max");
        if (TokenLatencyP99Seconds > 0)
            sb.Append(", token p50 ").Append(Bytes.Ms(TokenLatencyP50Seconds)).Append(" p99 ").Append(Bytes.Ms(TokenLatencyP99Seconds));
        if (Prompt is { } prompt)
            sb.Append(", prompt of ").Append(prompt.PromptTokens).Append(": prefill ").Append(Bytes.Ms(prompt.PrefillSeconds))
                .Append(", first token ").Append(Bytes.Ms(prompt.TimeToFirstTokenSeconds));
        sb.AppendLine();
        foreach (var s in Stages)
            sb.Append("    ").AppendLine(s.ToString());
    }
}
