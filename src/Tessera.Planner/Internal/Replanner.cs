using System.Text;

namespace Tessera.Planner.Internal;

/// <summary>Minimal-movement repair (<see cref="PoolPlanner.Replan"/>) and worth-the-move improvement (<see cref="PoolPlanner.Improve"/>).</summary>
internal static class Replanner
{
    /// <summary>Spares evaluated per orphaned range, the fastest first (a thousand idle devices need not all be costed).</summary>
    public const int MaxSparesTried = 64;

    private sealed class Slot(DeviceInfo? device, LayerSpan layers, IReadOnlyList<PlanStage> lost)
    {
        public DeviceInfo? Device { get; set; } = device;

        public LayerSpan Layers { get; set; } = layers;

        /// <summary>For a gap: the stages that held its layers.</summary>
        public IReadOnlyList<PlanStage> Lost { get; } = lost;
    }

    public static ReplanResult Replan(Plan current, CostModel cost, ClusterDescription cluster, ReplanReason reason)
    {
        CheckShape(current, cost);
        var eligible = PoolPlanner.Eligible(cost, cluster).ToDictionary(d => d.Id, StringComparer.Ordinal);

        // Stages that stay: device still usable and still has room for what it holds.
        bool Survives(PlanStage s) =>
            eligible.TryGetValue(s.DeviceId, out var d) && cost.Memory(s.Layers.First, s.Layers.Last) <= cost.Available(d);
        var taken = new HashSet<string>(current.Pipelines.SelectMany(p => p.Stages).Where(Survives).Select(s => s.DeviceId), StringComparer.Ordinal);
        var lostStages = current.Pipelines.SelectMany(p => p.Stages).Where(s => !Survives(s)).ToList();
        if (lostStages.Count == 0)
        {
            var refreshed = Refresh(current, cost, cluster);
            return new ReplanResult
            {
                Plan = refreshed,
                Changed = false,
                Explanation = "Every stage's device is usable and has room: nothing moves.",
            };
        }

        var pipelines = new List<PipelinePlan>();
        var moves = new List<LayerMove>();
        var sb = new StringBuilder();
        sb.Append(DescribeLoss(lostStages, cluster, reason));
        foreach (var pipeline in current.Pipelines)
        {
            var slots = new List<Slot>();
            foreach (var s in pipeline.Stages)
            {
                if (Survives(s))
                {
                    slots.Add(new Slot(eligible[s.DeviceId], s.Layers, []));
                }
                else if (slots.Count > 0 && slots[^1].Device is null)
                {
                    var gap = slots[^1];
                    slots[^1] = new Slot(null, new LayerSpan(gap.Layers.First, s.Layers.Last), [.. gap.Lost, s]);
                }
                else
                {
                    slots.Add(new Slot(null, s.Layers, [s]));
                }
            }

            var repaired = true;
            for (var i = 0; i < slots.Count && repaired; i++)
            {
                if (slots[i].Device is not null)
                    continue;
                // When the neighbours absorb the gap its slot is removed and slots[i] is the right neighbour: gaps are never adjacent.
                repaired = FillGap(cost, cluster, pipeline.Replica, slots, i, eligible.Values, taken, moves, sb);
            }

            if (!repaired)
            {
                // Neither a spare nor the neighbours can take the orphaned layers: plan this pipeline afresh.
                var pool = eligible.Values
                    .Where(d => !taken.Contains(d.Id) || pipeline.Stages.Any(s => s.DeviceId == d.Id))
                    .OrderBy(d => d.Id, StringComparer.Ordinal)
                    .ToList();
                var outcome = PlacementSearch.Search(cost, cluster, pool, pipeline.Replica);
                if (outcome is null)
                {
                    var prefix = $"{DescribeLoss(lostStages, cluster, reason)}The remaining devices cannot hold the model: ";
                    return new ReplanResult { Changed = true, Failure = FailureAnalyzer.Explain(cost, pool, cluster.Devices.Count, prefix), Explanation = prefix };
                }
                moves.RemoveAll(m => m.Replica == pipeline.Replica);
                moves.AddRange(Diff(cost, pipeline, outcome.Pipeline));
                foreach (var s in outcome.Pipeline.Stages)
                    taken.Add(s.DeviceId);
                sb.Append("Replica ").Append(pipeline.Replica).Append(" could not be repaired in place and was planned afresh. ");
                pipelines.Add(outcome.Pipeline);
                continue;
            }

            pipelines.Add(cost.Build(cluster, pipeline.Replica, slots.Select(s => s.Device!).ToArray(), slots.Select(s => s.Layers).ToArray()));
        }

        var plan = new Plan { ModelName = current.ModelName, LayerCount = current.LayerCount, Pipelines = pipelines, Explanation = "" };
        var ratio = plan.SingleStreamTokensPerSecond / current.SingleStreamTokensPerSecond;
        var layers = moves.Sum(m => m.Layers.Count);
        sb.Append(layers).Append(layers == 1 ? " layer" : " layers").Append(" (").Append(Bytes.Format(moves.Sum(m => m.Bytes))).Append(") move; predicted ")
            .Append(Bytes.Rate(plan.SingleStreamTokensPerSecond)).Append(" single-stream (was ").Append(Bytes.Rate(current.SingleStreamTokensPerSecond)).Append(").");
        var explanation = sb.ToString();
        return new ReplanResult
        {
            Plan = plan with { Explanation = explanation },
            Changed = true,
            Moves = moves,
            SpeedRatio = ratio,
            Explanation = explanation,
        };
    }

    public static ReplanResult Improve(Plan current, CostModel cost, ClusterDescription cluster)
    {
        CheckShape(current, cost);
        var eligible = PoolPlanner.Eligible(cost, cluster).ToDictionary(d => d.Id, StringComparer.Ordinal);
        var fits = current.Pipelines.SelectMany(p => p.Stages).All(s =>
            eligible.TryGetValue(s.DeviceId, out var d) && cost.Memory(s.Layers.First, s.Layers.Last) <= cost.Available(d));
        if (!fits)
            return Replan(current, cost, cluster, ReplanReason.CapacityChanged);

        var now = Refresh(current, cost, cluster);
        var fresh = PoolPlanner.Plan(cost.Request, cluster, cost.Options);
        if (!fresh.Succeeded)
            return Unchanged(now, "No better plan: " + fresh.Failure.Message);

        var moves = new List<LayerMove>();
        for (var r = 0; r < fresh.Plan.Pipelines.Count; r++)
        {
            if (r < now.Pipelines.Count)
                moves.AddRange(Diff(cost, now.Pipelines[r], fresh.Plan.Pipelines[r]));
            else
                moves.AddRange(fresh.Plan.Pipelines[r].Stages.Select(s => new LayerMove(r, s.Layers, "(new replica)", s.DeviceId, s.WeightBytes)));
        }
        if (moves.Count == 0)
            return Unchanged(now, "The current plan is already the best the planner finds.");

        var ratio = fresh.Plan.SingleStreamTokensPerSecond / now.SingleStreamTokensPerSecond;
        var bytes = moves.Sum(m => m.Bytes);
        var fraction = (double)bytes / Math.Max(1, cost.Model.TotalWeightBytes * (long)Math.Max(now.Pipelines.Count, 1));
        var required = 1 + cost.Options.ImproveMinSpeedGain + cost.Options.ImproveGainPerMovedModel * Math.Min(1, fraction);
        var summary = $"A new plan predicts {Bytes.Rate(fresh.Plan.SingleStreamTokensPerSecond)} single-stream against {Bytes.Rate(now.SingleStreamTokensPerSecond)} now " +
            $"({Percent(ratio - 1)}) and moves {moves.Sum(m => m.Layers.Count)} layers ({Bytes.Format(bytes)}, {Percent(fraction)} of the model); " +
            $"moving that much needs {Percent(required - 1)} faster";
        // Over devices of equal speed every split reads each layer once per token, so rebalancing layers gains no
        // single-stream speed; it raises the pace many sessions go at (the slowest stage's). A plan as fast for one
        // stream and faster for many by a wider margin (a stage's pace is known less well than a pipeline's sum) is
        // adopted too: identical devices that the probe told apart (one split 1/1/20) get equal shares once their speeds
        // are known.
        var throughput = fresh.Plan.MaxThroughputTokensPerSecond / now.MaxThroughputTokensPerSecond;
        var balanceRequired = required - cost.Options.ImproveMinSpeedGain + cost.Options.ImproveMinBalanceGain;
        var balances = ratio < required && ratio >= 1 - BalanceTolerance && double.IsFinite(throughput) && throughput >= balanceRequired;
        if (balances)
            summary += $"; at the same single-stream speed it predicts {Bytes.Rate(fresh.Plan.MaxThroughputTokensPerSecond)} for many sessions against " +
                $"{Bytes.Rate(now.MaxThroughputTokensPerSecond)} ({Percent(throughput - 1)})";
        if (ratio < required && !balances)
            return Unchanged(now, summary + ": keeping the current plan.");
        var explanation = summary + ": switching. " + fresh.Plan.Explanation;
        return new ReplanResult
        {
            Plan = fresh.Plan with { Explanation = explanation },
            Changed = true,
            Moves = moves,
            SpeedRatio = ratio,
            ThroughputRatio = double.IsFinite(throughput) ? throughput : 1,
            Explanation = explanation,
        };
    }

    /// <summary>Fills slots[index] (a gap) with one spare device or by extending its neighbours, whichever predicts faster.</summary>
    private static bool FillGap(CostModel cost, ClusterDescription cluster, int replica, List<Slot> slots, int index,
        IEnumerable<DeviceInfo> eligible, HashSet<string> taken, List<LayerMove> moves, StringBuilder sb)
    {
        var gap = slots[index];
        var need = cost.Memory(gap.Layers.First, gap.Layers.Last);
        PipelinePlan? best = null;
        DeviceInfo? bestSpare = null;
        var bestSplit = -1;

        PipelinePlan Evaluate(Func<int, (DeviceInfo, LayerSpan)?> slot)
        {
            var devices = new List<DeviceInfo>();
            var spans = new List<LayerSpan>();
            for (var i = 0; i < slots.Count; i++)
            {
                if (slot(i) is not { } s)
                    continue;
                devices.Add(s.Item1);
                spans.Add(s.Item2);
            }
            return cost.Build(cluster, replica, devices, spans);
        }
        (DeviceInfo, LayerSpan)? Unchanged(int i) => slots[i].Device is { } d ? (d, slots[i].Layers) : null;

        // A spare device takes the whole gap.
        var spares = eligible
            .Where(d => !taken.Contains(d.Id) && cost.Available(d) >= need)
            .OrderByDescending(d => d.MemoryBandwidthGBps).ThenBy(d => d.Id, StringComparer.Ordinal)
            .Take(MaxSparesTried);
        foreach (var spare in spares)
        {
            var candidate = Evaluate(i => i == index ? (spare, gap.Layers) : Unchanged(i));
            if (best is null || CostModel.Compare(candidate, best) < 0)
            {
                best = candidate;
                bestSpare = spare;
            }
        }

        // The neighbours extend: left takes [gap.First, m), right takes [m, gap.Last).
        var left = index > 0 ? slots[index - 1] : null;
        var right = index + 1 < slots.Count ? slots[index + 1] : null;
        var from = right is null ? gap.Layers.Last : gap.Layers.First; // only a left neighbour: it takes everything
        var to = left is null ? gap.Layers.First : gap.Layers.Last; // only a right neighbour: likewise
        if (left is not null || right is not null)
        {
            for (var m = from; m <= to; m++)
            {
                var leftSpan = left is null ? default : new LayerSpan(left.Layers.First, m);
                var rightSpan = right is null ? default : new LayerSpan(m, right.Layers.Last);
                if (left is not null && cost.Memory(leftSpan.First, leftSpan.Last) > cost.Available(left.Device!))
                    break; // the left range only grows with m
                if (right is not null && cost.Memory(rightSpan.First, rightSpan.Last) > cost.Available(right.Device!))
                    continue;
                var candidate = Evaluate(i =>
                    i == index ? null :
                    i == index - 1 ? (left!.Device!, leftSpan) :
                    i == index + 1 ? (right!.Device!, rightSpan) :
                    Unchanged(i));
                if (best is null || CostModel.Compare(candidate, best) < 0)
                {
                    best = candidate;
                    bestSpare = null;
                    bestSplit = m;
                }
            }
        }

        if (best is null)
            return false;
        if (bestSpare is not null)
        {
            slots[index].Device = bestSpare;
            taken.Add(bestSpare.Id);
            foreach (var lost in gap.Lost)
                moves.Add(new LayerMove(replica, lost.Layers, lost.DeviceId, bestSpare.Id, MovedBytes(cost, lost.Layers)));
            sb.Append("Layers ").Append(gap.Layers).Append(" go to spare device ").Append(bestSpare.Id).Append(" on ").Append(bestSpare.NodeName).Append(". ");
            return true;
        }

        var toLeft = new LayerSpan(gap.Layers.First, bestSplit);
        var toRight = new LayerSpan(bestSplit, gap.Layers.Last);
        foreach (var lost in gap.Lost)
        {
            var l = Intersect(lost.Layers, toLeft);
            if (!l.IsEmpty)
                moves.Add(new LayerMove(replica, l, lost.DeviceId, left!.Device!.Id, MovedBytes(cost, l)));
            var r = Intersect(lost.Layers, toRight);
            if (!r.IsEmpty)
                moves.Add(new LayerMove(replica, r, lost.DeviceId, right!.Device!.Id, MovedBytes(cost, r)));
        }
        if (left is not null)
            left.Layers = new LayerSpan(left.Layers.First, bestSplit);
        if (right is not null)
            right.Layers = new LayerSpan(bestSplit, right.Layers.Last);
        slots.RemoveAt(index);
        sb.Append("Layers ").Append(gap.Layers).Append(" go to the neighbouring stages");
        if (left is not null && !toLeft.IsEmpty)
            sb.Append(", ").Append(toLeft).Append(" to ").Append(left.Device!.Id);
        if (right is not null && !toRight.IsEmpty)
            sb.Append(", ").Append(toRight).Append(" to ").Append(right.Device!.Id);
        sb.Append(". ");
        return true;
    }

    /// <summary>Layers of <paramref name="after"/> that sit on a different device than in <paramref name="before"/>.</summary>
    internal static IEnumerable<LayerMove> Diff(CostModel cost, PipelinePlan before, PipelinePlan after)
    {
        foreach (var n in after.Stages)
        {
            var covered = 0;
            foreach (var o in before.Stages)
            {
                var overlap = Intersect(o.Layers, n.Layers);
                if (overlap.IsEmpty)
                    continue;
                covered += overlap.Count;
                if (o.DeviceId != n.DeviceId)
                    yield return new LayerMove(after.Replica, overlap, o.DeviceId, n.DeviceId, MovedBytes(cost, overlap));
            }
            if (covered < n.Layers.Count)
                yield return new LayerMove(after.Replica, n.Layers, "(nowhere)", n.DeviceId, MovedBytes(cost, n.Layers));
        }
    }

    private static long MovedBytes(CostModel cost, LayerSpan layers)
    {
        var model = cost.Model;
        var bytes = model.LayerBytes(layers);
        if (layers.First == 0)
            bytes += model.EmbeddingBytes;
        if (layers.Last == model.LayerCount)
            bytes += model.HeadBytes;
        return bytes;
    }

    private static LayerSpan Intersect(LayerSpan a, LayerSpan b)
    {
        var first = Math.Max(a.First, b.First);
        var last = Math.Min(a.Last, b.Last);
        return last > first ? new LayerSpan(first, last) : default;
    }

    /// <summary>The same stages, predictions recomputed on today's cluster (speeds and links may have changed).</summary>
    private static Plan Refresh(Plan plan, CostModel cost, ClusterDescription cluster) => plan with
    {
        Pipelines = plan.Pipelines
            .Select(p => cost.Build(cluster, p.Replica, p.Stages.Select(s => cluster.FindDevice(s.DeviceId)!).ToArray(), p.Stages.Select(s => s.Layers).ToArray()))
            .ToArray(),
    };

    /// <summary>How much slower for one stream (1%) a plan may be and still count as "as fast" when it balances the stages better.</summary>
    private const double BalanceTolerance = 0.01;

    private static ReplanResult Unchanged(Plan plan, string explanation) => new() { Plan = plan, Changed = false, Explanation = explanation };

    private static string DescribeLoss(List<PlanStage> lost, ClusterDescription cluster, ReplanReason reason)
    {
        var sb = new StringBuilder();
        foreach (var s in lost)
        {
            var status = cluster.FindDevice(s.DeviceId) is null ? "is gone" : cluster.StatusOf(s.NodeId) switch
            {
                NodeStatus.Lost => "was lost",
                NodeStatus.Draining => "is draining",
                _ => "no longer has room or is excluded",
            };
            sb.Append(s.DeviceId).Append(" on ").Append(s.NodeName).Append(' ').Append(status).Append(" (layers ").Append(s.Layers).Append("). ");
        }
        sb.Append(reason switch
        {
            ReplanReason.NodeLost => "Re-planning after a lost node: ",
            ReplanReason.NodeDrained => "Re-planning for a drain: ",
            _ => "Re-planning after a capacity change: ",
        });
        return sb.ToString();
    }

    private static void CheckShape(Plan current, CostModel cost)
    {
        if (current.LayerCount != cost.L)
            throw new ArgumentException($"The current plan is for {current.LayerCount} layers but the model has {cost.L}.");
    }

    private static string Percent(double fraction) => (fraction * 100).ToString("0", System.Globalization.CultureInfo.InvariantCulture) + "%";
}
