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

    internal void Describe(StringBuilder sb)
    {
        sb.Append("  replica ").Append(Replica).Append(": ").Append(Stages.Count).Append(Stages.Count == 1 ? " stage, " : " stages, ")
            .Append(Bytes.Rate(SingleStreamTokensPerSecond)).Append(" single-stream, ")
            .Append(Bytes.Rate(MaxThroughputTokensPerSecond)).AppendLine(" max");
        foreach (var s in Stages)
            sb.Append("    ").AppendLine(s.ToString());
    }
}
