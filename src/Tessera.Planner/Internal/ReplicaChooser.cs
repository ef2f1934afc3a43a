using System.Globalization;
using System.Text;

namespace Tessera.Planner.Internal;

/// <summary>What <see cref="ReplicaChooser"/> chose, and what it stopped at.</summary>
/// <param name="Pipelines">The replicas chosen.</param>
/// <param name="OnePipeline">The best one-replica plan, the yardstick for single-stream speed.</param>
/// <param name="Floor">Single-stream tokens/s every replica must reach.</param>
/// <param name="Rejected">The replica after the last chosen, when it fitted but fell under the floor.</param>
/// <param name="Capped">True when the count stopped at the cap, not at a replica that did not fit or was too slow.</param>
internal sealed record ReplicaChoice(List<PipelinePlan> Pipelines, PipelinePlan OnePipeline, double Floor, PipelinePlan? Rejected, bool Capped, int Considered, string Explanation);

/// <summary>
/// Chooses the number of replicas (<see cref="PlanRequest.AutoReplicas"/>). Two walks add replicas one at a time on
/// the devices left: the planner's own (each replica the fastest pipeline on what is left, so the first is the
/// one-replica plan) and a lean one (each replica on the fewest stages that hold it, which leaves devices for more
/// replicas: three pipelines of two stages can beat one of six). A walk stops at the first replica that does not fit,
/// that decodes one session slower than <see cref="PlannerOptions.AutoReplicaMinSingleStream"/> x the one-replica
/// plan's, or at the cap. Every replica added adds throughput, so each walk's best count is where it stopped; the
/// walk with more aggregate saturated tokens/s wins (a tie: fewer replicas, then the planner's own walk).
/// </summary>
internal static class ReplicaChooser
{
    public static ReplicaChoice? Choose(CostModel cost, ClusterDescription cluster, List<DeviceInfo> eligible, HashSet<string> preferred, ReplicaSequence own, StringBuilder notes)
    {
        var options = cost.Options;
        var first = own.Next(notes);
        if (first is null)
            return null;
        var floor = Math.Clamp(options.AutoReplicaMinSingleStream, 0, 1) * first.SingleStreamTokensPerSecond;
        var cap = Math.Max(1, options.MaxAutoReplicas); // the devices bound it too: a walk stops when none are left
        var (ownRejected, ownCapped) = Walk(own, floor, cap);
        var best = (Sequence: own, Rejected: ownRejected, Capped: ownCapped);
        if (options.ExtraStagesTried > 0)
        {
            var lean = new ReplicaSequence(cost, cluster, eligible, preferred, extraStages: 0);
            var (leanRejected, leanCapped) = Walk(lean, floor, cap);
            var gain = Throughput(lean.Pipelines) - Throughput(own.Pipelines);
            if (lean.Pipelines.Count > 0 && (gain > 1e-9 * Throughput(own.Pipelines) || (Math.Abs(gain) <= 1e-9 * Throughput(own.Pipelines) && lean.Pipelines.Count < own.Pipelines.Count)))
                best = (lean, leanRejected, leanCapped);
        }
        var chosen = best.Sequence.Pipelines;
        return new ReplicaChoice(chosen, first, floor, best.Rejected, best.Capped, Math.Max(own.Considered, best.Sequence.Considered),
            Explain(options, chosen, first, best.Rejected, best.Capped, cap));
    }

    /// <summary>Adds replicas while they fit, reach <paramref name="floor"/> and stay under <paramref name="cap"/>.</summary>
    private static (PipelinePlan? Rejected, bool Capped) Walk(ReplicaSequence sequence, double floor, int cap)
    {
        while (sequence.Pipelines.Count < cap)
        {
            var count = sequence.Pipelines.Count;
            var next = sequence.Next();
            if (next is null)
                return (null, false);
            if (next.SingleStreamTokensPerSecond < floor * (1 - 1e-9))
            {
                sequence.Pipelines.RemoveAt(count); // its devices stay taken: the walk ends here
                return (next, false);
            }
        }
        return (null, true);
    }

    public static double Throughput(IReadOnlyList<PipelinePlan> pipelines)
    {
        var sum = 0.0;
        foreach (var p in pipelines)
            sum += p.MaxThroughputTokensPerSecond;
        return sum;
    }

    /// <summary>"3 replicas of 2 stages" or "3 replicas of 2-4 stages".</summary>
    public static string Shape(IReadOnlyList<PipelinePlan> pipelines)
    {
        var min = pipelines.Min(p => p.Stages.Count);
        var max = pipelines.Max(p => p.Stages.Count);
        var stages = min == max ? min.ToString(CultureInfo.InvariantCulture) : $"{min}-{max}";
        var plural = max == 1 ? "stage" : "stages";
        return pipelines.Count == 1 ? $"one pipeline of {stages} {plural}" : $"{pipelines.Count} replicas of {stages} {plural}";
    }

    private static string Explain(PlannerOptions options, List<PipelinePlan> chosen, PipelinePlan first, PipelinePlan? rejected, bool capped, int cap)
    {
        var sb = new StringBuilder("Replicas chosen by the planner: ");
        var percent = Math.Clamp(options.AutoReplicaMinSingleStream, 0, 1) * 100;
        var slowest = chosen.Min(p => p.SingleStreamTokensPerSecond);
        if (chosen.Count == 1 && ReferenceEquals(chosen[0], first))
        {
            sb.Append("one pipeline of ").Append(first.Stages.Count).Append(first.Stages.Count == 1 ? " stage" : " stages").Append(", ")
                .Append(Bytes.Rate(first.MaxThroughputTokensPerSecond)).Append(" saturated, ").Append(Bytes.Rate(first.SingleStreamTokensPerSecond))
                .Append(" single-stream. ");
        }
        else
        {
            sb.Append(Shape(chosen)).Append(": ").Append(Bytes.Rate(Throughput(chosen))).Append(" saturated against ")
                .Append(Bytes.F(first.MaxThroughputTokensPerSecond)).Append(" for one pipeline of ").Append(first.Stages.Count)
                .Append(first.Stages.Count == 1 ? " stage" : " stages").Append("; single-stream ").Append(Bytes.F(slowest)).Append(" vs ")
                .Append(Bytes.Rate(first.SingleStreamTokensPerSecond)).Append(" (every replica at least ")
                .Append(percent.ToString("0", CultureInfo.InvariantCulture)).Append(" % of the one-pipeline plan's). ");
        }
        var ordinal = chosen.Count + 1;
        if (capped)
            sb.Append("Stopped at the cap of ").Append(cap).Append(" replicas.");
        else if (rejected is not null)
            sb.Append("Replica ").Append(ordinal).Append(" would decode one session at ").Append(Bytes.Rate(rejected.SingleStreamTokensPerSecond))
                .Append(", under ").Append(percent.ToString("0", CultureInfo.InvariantCulture)).Append(" % of ").Append(Bytes.Rate(first.SingleStreamTokensPerSecond)).Append('.');
        else
            sb.Append("Replica ").Append(ordinal).Append(" would not fit on the devices left.");
        return sb.ToString();
    }
}
