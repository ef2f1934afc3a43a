using System.Text;
using Tessera.Planner.Internal;

namespace Tessera.Planner;

/// <summary>
/// Where a model runs: one or more pipelines (replicas) of stages, with predicted speeds and an explanation of the
/// choice in words. Produced by <see cref="PoolPlanner.Plan"/>, <see cref="PoolPlanner.Replan"/> and <see cref="PoolPlanner.Improve"/>.
/// </summary>
public sealed record Plan
{
    public required string ModelName { get; init; }

    public required int LayerCount { get; init; }

    public required IReadOnlyList<PipelinePlan> Pipelines { get; init; }

    /// <summary>Why these devices and ranges were chosen, for the CLI and the events log.</summary>
    public required string Explanation { get; init; }

    /// <summary>
    /// Plans considered and rejected, with their predicted speeds and why, when <see cref="PlanRequest.Explain"/> was
    /// set (at most eight, in a fixed order); empty otherwise.
    /// </summary>
    public IReadOnlyList<PlanAlternative> Alternatives { get; init; } = [];

    /// <summary>Every stage of every replica, replica by replica, in pipeline order.</summary>
    public IReadOnlyList<PlanStage> Stages => Pipelines.SelectMany(p => p.Stages).ToArray();

    /// <summary>Predicted decode speed of one session (the slowest replica's, as a session may land on any).</summary>
    public double SingleStreamTokensPerSecond => Pipelines.Min(p => p.SingleStreamTokensPerSecond);

    /// <summary>Predicted aggregate tokens/s when every stage of every replica is busy: the sum over replicas of 1 / slowest stage.</summary>
    public double MaxThroughputTokensPerSecond => Pipelines.Sum(p => p.MaxThroughputTokensPerSecond);

    /// <summary>Devices the plan uses.</summary>
    public IEnumerable<string> DeviceIds => Pipelines.SelectMany(p => p.Stages).Select(s => s.DeviceId);

    /// <summary>Several lines for logs: totals, then one line per stage, then the explanation.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        var stages = Pipelines.Sum(p => p.Stages.Count);
        sb.Append("Plan for ").Append(ModelName).Append(": ").Append(Pipelines.Count).Append(Pipelines.Count == 1 ? " replica, " : " replicas, ")
            .Append(stages).Append(stages == 1 ? " stage, " : " stages, ")
            .Append(Bytes.Rate(SingleStreamTokensPerSecond)).Append(" single-stream, ")
            .Append(Bytes.Rate(MaxThroughputTokensPerSecond)).AppendLine(" max throughput");
        foreach (var p in Pipelines)
            p.Describe(sb);
        sb.Append(Explanation);
        foreach (var a in Alternatives)
            sb.AppendLine().Append("  not chosen: ").Append(a.Description).Append(" (").Append(a.Reason).Append("): ").Append(a.Why);
        return sb.ToString();
    }

    public override string ToString() => Describe();
}
