using System.Globalization;

namespace Tessera.Planner.Internal;

/// <summary>
/// The plans the planner weighed against the one it chose, for <c>--explain</c> (<see cref="PlanRequest.Explain"/>):
/// the fastest single device, one stage fewer and one more, the plan a link-blind planner would make when it crosses
/// a jittery link, the even split over the chosen devices, and the replica counts either side. Each is a search the
/// planner makes anyway (a fixed stage count) or a prediction of a given placement, so listing them costs a few
/// searches, never a sweep of the pool. Always in that order, at most <see cref="Max"/>.
/// </summary>
internal static class Alternatives
{
    public const int Max = 8;

    public static IReadOnlyList<PlanAlternative> List(CostModel cost, ClusterDescription cluster, List<DeviceInfo> eligible, HashSet<string> preferred, Plan plan, ReplicaChoice? auto)
    {
        var list = new List<PlanAlternative>();
        var chosen = plan.Pipelines[0];
        var k = chosen.Stages.Count;
        var byId = eligible.ToDictionary(d => d.Id, StringComparer.Ordinal);
        PlanAlternative? Add(PlanAlternative? a)
        {
            if (a is not null && list.Count < Max)
                list.Add(a);
            return a;
        }

        // The fastest device alone.
        var fastest = eligible.OrderByDescending(d => d.MemoryBandwidthGBps).ThenBy(d => d.Id, StringComparer.Ordinal).First();
        if (k != 1 || chosen.Stages[0].DeviceId != fastest.Id)
        {
            var need = cost.WholeModelBytes;
            var desc = $"one stage on {fastest.Id}, the fastest device ({Bytes.F(fastest.MemoryBandwidthGBps)} GB/s)";
            Add(need > cost.Available(fastest)
                ? new PlanAlternative(desc, AlternativeReason.DoesNotFit,
                    $"It does not fit: the model needs {Bytes.Format(need)} on one device, {fastest.Id} has {Bytes.Format(cost.Available(fastest))} free after headroom.")
                : Judge(desc, Predict(cost, cluster, [fastest], [new LayerSpan(0, cost.L)]), chosen));
        }

        // One stage fewer and one more.
        if (k > 1)
            Add(Stages(cost, cluster, eligible, k - 1, "one fewer", chosen));
        if (k < Math.Min(cost.L, eligible.Count))
            Add(Stages(cost, cluster, eligible, k + 1, "one more", chosen));

        // What a planner blind to jitter would choose, when that crosses a jittery link this plan does not.
        Add(JitterBlind(cost, cluster, eligible, chosen, byId));

        // The even split over the same devices.
        if (k > 1)
            Add(EvenSplit(cost, cluster, chosen, byId));

        // Replica counts.
        if (auto is not null)
        {
            var n = auto.Pipelines.Count;
            var total = ReplicaChooser.Throughput(auto.Pipelines);
            if (n > 1)
            {
                var fewer = auto.Pipelines.Take(n - 1).ToList();
                var t = ReplicaChooser.Throughput(fewer);
                Add(new PlanAlternative($"{n - 1} replica{(n - 1 == 1 ? "" : "s")}", AlternativeReason.FewerReplicas,
                    $"{Percent(1 - t / total)} % less saturated throughput: {Bytes.Rate(t)} against {Bytes.Rate(total)}.",
                    fewer[0].Stages.Count, n - 1, fewer.Min(p => p.SingleStreamTokensPerSecond), t, fewer.Max(p => p.TokenLatencyP99Seconds)));
            }
            if (auto.Rejected is { } rejected)
            {
                var more = auto.Pipelines.Append(rejected).ToList();
                Add(new PlanAlternative($"{n + 1} replicas", AlternativeReason.SingleStreamTooSlow,
                    $"Replica {n + 1} would decode one session at {Bytes.Rate(rejected.SingleStreamTokensPerSecond)}, under " +
                    $"{Percent(cost.Options.AutoReplicaMinSingleStream)} % of the one-pipeline plan's {Bytes.Rate(auto.OnePipeline.SingleStreamTokensPerSecond)}; it would add {Bytes.Rate(rejected.MaxThroughputTokensPerSecond)} saturated.",
                    rejected.Stages.Count, n + 1, rejected.SingleStreamTokensPerSecond, ReplicaChooser.Throughput(more), null));
            }
        }
        else if (plan.Pipelines.Count == 1)
        {
            // Would the pool take more copies? The same walk as --replicas auto.
            var choice = ReplicaChooser.Choose(cost, cluster, eligible, preferred, new ReplicaSequence(cost, cluster, eligible, preferred), new());
            if (choice is not null && choice.Pipelines.Count > 1)
            {
                var t = ReplicaChooser.Throughput(choice.Pipelines);
                Add(new PlanAlternative($"{ReplicaChooser.Shape(choice.Pipelines)} (--replicas auto)", AlternativeReason.FewerReplicas,
                    $"Not asked for: {choice.Pipelines.Count} replicas fit at {Bytes.Rate(t)} saturated against {Bytes.Rate(chosen.MaxThroughputTokensPerSecond)}, " +
                    $"single-stream {Bytes.F(choice.Pipelines.Min(p => p.SingleStreamTokensPerSecond))} vs {Bytes.Rate(chosen.SingleStreamTokensPerSecond)}.",
                    choice.Pipelines[0].Stages.Count, choice.Pipelines.Count, choice.Pipelines.Min(p => p.SingleStreamTokensPerSecond), t, null));
            }
        }
        return list;
    }

    private static PlanAlternative? Stages(CostModel cost, ClusterDescription cluster, List<DeviceInfo> eligible, int stages, string which, PipelinePlan chosen)
    {
        var desc = $"{stages} {(stages == 1 ? "stage" : "stages")} ({which})";
        var outcome = PlacementSearch.Search(cost, cluster, eligible, 0, exactStages: stages);
        if (outcome is null)
        {
            var largest = eligible.Select(cost.Available).OrderDescending().Take(stages).Sum();
            return new PlanAlternative(desc, AlternativeReason.DoesNotFit,
                $"It does not fit: {stages} {(stages == 1 ? "stage needs" : "stages need")} at least {Bytes.Format(cost.TotalBytes(stages))}, {(stages == 1 ? "the largest device has" : $"the {stages} largest devices have")} {Bytes.Format(largest)} after headroom.");
        }
        var devices = outcome.Pipeline.Stages.Select(s => eligible.First(d => d.Id == s.DeviceId)).ToArray();
        return Judge(desc, Prediction.Finish(cost, cluster, devices, outcome.Pipeline), chosen);
    }

    private static PlanAlternative? JitterBlind(CostModel cost, ClusterDescription cluster, List<DeviceInfo> eligible, PipelinePlan chosen, Dictionary<string, DeviceInfo> byId)
    {
        if (cluster.Links.Count == 0)
            return null;
        var blindCost = new CostModel(cost.Request, cost.Options with { HopCost = new JitterBlindHopCost(cost.Options.HopCost) });
        var outcome = PlacementSearch.Search(blindCost, cluster, eligible, 0);
        if (outcome is null || SamePlacement(outcome.Pipeline, chosen))
            return null;
        var devices = outcome.Pipeline.Stages.Select(s => byId[s.DeviceId]).ToArray();
        var predicted = Predict(cost, cluster, devices, outcome.Pipeline.Stages.Select(s => s.Layers).ToArray());
        // The jitteriest link it crosses that the chosen plan does not.
        LinkInfo? worst = null;
        for (var i = 0; i + 1 < devices.Length; i++)
        {
            var link = cost.Options.LinkBetween(cluster, devices[i].NodeId, devices[i + 1].NodeId);
            if (link.JitterP99Ms > 0 && !Crosses(cost, cluster, chosen, byId, link) && (worst is null || link.JitterP99Ms > worst.JitterP99Ms))
                worst = link;
        }
        if (worst is null)
            return null;
        var endpoints = worst.NodeA == LinkInfo.AnyNode ? "a link never measured" : $"{worst.NodeA}-{worst.NodeB}";
        return new PlanAlternative($"the plan that ignores jitter ({ReplicaChooser.Shape([predicted])} via {endpoints})", AlternativeReason.CrossesJitteryLink,
            $"It crosses {endpoints} (p99 jitter {Bytes.F(worst.JitterP99Ms)} ms): token p99 {Bytes.Ms(predicted.TokenLatencyP99Seconds)} against {Bytes.Ms(chosen.TokenLatencyP99Seconds)}, " +
            $"single-stream {Bytes.F(predicted.SingleStreamTokensPerSecond)} vs {Bytes.Rate(chosen.SingleStreamTokensPerSecond)}.",
            predicted.Stages.Count, 1, predicted.SingleStreamTokensPerSecond, predicted.MaxThroughputTokensPerSecond, predicted.TokenLatencyP99Seconds);
    }

    private static PlanAlternative? EvenSplit(CostModel cost, ClusterDescription cluster, PipelinePlan chosen, Dictionary<string, DeviceInfo> byId)
    {
        var k = chosen.Stages.Count;
        var spans = new LayerSpan[k];
        var first = 0;
        for (var i = 0; i < k; i++)
        {
            var count = cost.L / k + (i < cost.L % k ? 1 : 0);
            spans[i] = new LayerSpan(first, first + count);
            first += count;
        }
        if (spans.Select((s, i) => s == chosen.Stages[i].Layers).All(same => same))
            return null;
        var devices = chosen.Stages.Select(s => byId[s.DeviceId]).ToArray();
        var desc = $"the even split over the same {k} devices ({string.Join(", ", spans.Select(s => s.Count))} layers)";
        for (var i = 0; i < k; i++)
        {
            var need = cost.Memory(spans[i].First, spans[i].Last);
            if (need > cost.Available(devices[i]))
            {
                return new PlanAlternative(desc, AlternativeReason.DoesNotFit,
                    $"It does not fit: layers {spans[i]} need {Bytes.Format(need)} on {devices[i].Id}, which has {Bytes.Format(cost.Available(devices[i]))} after headroom.");
            }
        }
        return Judge(desc, Predict(cost, cluster, devices, spans), chosen);
    }

    /// <summary>Why <paramref name="alt"/> lost to <paramref name="chosen"/>; null when it did not (equal, a tie the planner broke by ids).</summary>
    private static PlanAlternative? Judge(string desc, PipelinePlan alt, PipelinePlan chosen)
    {
        var altHops = alt.Stages.Sum(s => s.HopSeconds);
        var hops = chosen.Stages.Sum(s => s.HopSeconds);
        var figures = $"{Bytes.F(alt.SingleStreamTokensPerSecond)} vs {Bytes.Rate(chosen.SingleStreamTokensPerSecond)} single-stream, " +
            $"{Bytes.F(alt.MaxThroughputTokensPerSecond)} vs {Bytes.Rate(chosen.MaxThroughputTokensPerSecond)} saturated";
        AlternativeReason reason;
        string why;
        if (alt.SingleStreamTokensPerSecond < chosen.SingleStreamTokensPerSecond * (1 - 1e-9))
        {
            var slower = Percent(1 - alt.SingleStreamTokensPerSecond / chosen.SingleStreamTokensPerSecond);
            var hopBound = alt.Stages.Any(s => s.HopSeconds > s.ComputeSeconds && Math.Max(s.ComputeSeconds, s.HopSeconds) >= alt.BottleneckSeconds * (1 - 1e-9));
            if (hopBound)
            {
                reason = AlternativeReason.HopBound;
                why = $"{slower} % slower, and its pace is set by a hop ({Bytes.Ms(alt.BottleneckSeconds)} a token), not by a stage's compute: {figures}.";
            }
            else if (alt.Stages.Count > chosen.Stages.Count && altHops > hops)
            {
                reason = AlternativeReason.MoreHops;
                why = $"{slower} % slower: its hops cost {Bytes.Ms(altHops)} a token against {Bytes.Ms(hops)}, more than the extra device saves; {figures}.";
            }
            else
            {
                reason = AlternativeReason.Slower;
                why = $"{slower} % slower: {figures}.";
            }
        }
        else if (alt.MaxThroughputTokensPerSecond < chosen.MaxThroughputTokensPerSecond * (1 - 1e-9))
        {
            reason = AlternativeReason.LessThroughput;
            why = $"{Percent(1 - alt.MaxThroughputTokensPerSecond / chosen.MaxThroughputTokensPerSecond)} % less throughput with many sessions (a slower slowest stage): {figures}.";
        }
        else
        {
            return null;
        }
        return new PlanAlternative(desc, reason, why, alt.Stages.Count, 1, alt.SingleStreamTokensPerSecond, alt.MaxThroughputTokensPerSecond, alt.TokenLatencyP99Seconds);
    }

    private static PipelinePlan Predict(CostModel cost, ClusterDescription cluster, DeviceInfo[] devices, LayerSpan[] spans) =>
        Prediction.Finish(cost, cluster, devices, cost.Build(cluster, 0, devices, spans));

    private static bool SamePlacement(PipelinePlan a, PipelinePlan b)
    {
        if (a.Stages.Count != b.Stages.Count)
            return false;
        for (var i = 0; i < a.Stages.Count; i++)
        {
            if (a.Stages[i].DeviceId != b.Stages[i].DeviceId || a.Stages[i].Layers != b.Stages[i].Layers)
                return false;
        }
        return true;
    }

    private static bool Crosses(CostModel cost, ClusterDescription cluster, PipelinePlan p, Dictionary<string, DeviceInfo> byId, LinkInfo link)
    {
        for (var i = 0; i + 1 < p.Stages.Count; i++)
        {
            if (ReferenceEquals(cost.Options.LinkBetween(cluster, byId[p.Stages[i].DeviceId].NodeId, byId[p.Stages[i + 1].DeviceId].NodeId), link))
                return true;
        }
        return false;
    }

    private static string Percent(double fraction) => (fraction * 100).ToString(fraction < 0.01 ? "0.0" : "0", CultureInfo.InvariantCulture);

    /// <summary>A hop cost that ignores the links' jitter: what a planner that looked at median RTT alone would choose.</summary>
    private sealed class JitterBlindHopCost(IHopCostModel inner) : IHopCostModel
    {
        public double HopSeconds(LinkInfo link, long bytes) => inner.HopSeconds(link.JitterP99Ms != 0 ? link with { JitterP99Ms = 0 } : link, bytes);
    }
}
