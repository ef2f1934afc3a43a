using System.Text;
using Tessera.Planner.Internal;

namespace Tessera.Planner;

/// <summary>
/// Decides where a model's layers run. Pure and deterministic: no I/O, no clock, no randomness; the same request
/// and cluster give the same plan (ties are broken by device id, ordinal). See docs/planner.md.
/// </summary>
public static class PoolPlanner
{
    /// <summary>Bytes the planner counts for the sampled token on its way back from the last stage to the first.</summary>
    public const long SampledTokenBytes = 4;

    /// <summary>
    /// Places <paramref name="request"/>'s model on <paramref name="cluster"/>: as few stages as the memory needs
    /// (fewer hops, lower latency), more only when they make decoding faster; with several stages, layers go in
    /// proportion to measured speed as memory allows, stages ordered along the cheapest links.
    /// </summary>
    /// <returns>The plan, or a failure saying how much memory is missing and where.</returns>
    /// <exception cref="ArgumentException">The request or model profile is malformed.</exception>
    public static PlanResult Plan(PlanRequest request, ClusterDescription cluster, PlannerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(cluster);
        request.Validate();
        options ??= PlannerOptions.Default;
        var cost = new CostModel(request, options);
        var eligible = Eligible(cost, cluster);
        var preferred = request.PreferredDevices.ToHashSet(StringComparer.Ordinal);
        var notes = new StringBuilder();
        var sequence = new ReplicaSequence(cost, cluster, eligible, preferred);
        ReplicaChoice? auto = null;
        if (request.AutoReplicas)
        {
            auto = ReplicaChooser.Choose(cost, cluster, eligible, preferred, sequence, notes);
            if (auto is null)
                return PlanResult.Fail(FailureAnalyzer.Explain(cost, eligible, cluster.Devices.Count, null));
        }
        else
        {
            for (var r = 0; r < request.Replicas; r++)
            {
                if (sequence.Next(notes) is null)
                {
                    var prefix = request.Replicas > 1 ? $"Replica {r + 1} of {request.Replicas} does not fit on the devices the others leave: " : null;
                    return PlanResult.Fail(FailureAnalyzer.Explain(cost, sequence.Left(), cluster.Devices.Count, prefix));
                }
            }
        }

        var pipelines = auto?.Pipelines ?? sequence.Pipelines;
        var considered = auto?.Considered ?? sequence.Considered;
        var explanation = ExplainPlacement(cost, cluster, eligible, pipelines[0], considered) + notes.ToString().TrimEnd();
        if (auto is not null)
            explanation = explanation.TrimEnd() + " " + auto.Explanation;
        var byId = new Dictionary<string, DeviceInfo>(StringComparer.Ordinal);
        foreach (var d in eligible)
            byId[d.Id] = d;
        var plan = Prediction.Finish(cost, cluster, new Plan
        {
            ModelName = request.Model.Name,
            LayerCount = request.Model.LayerCount,
            Pipelines = pipelines,
            Explanation = explanation.TrimEnd(),
        }, id => byId.GetValueOrDefault(id));
        if (request.Explain)
            plan = plan with { Alternatives = Alternatives.List(cost, cluster, eligible, preferred, plan, auto) };
        return PlanResult.Success(plan);
    }

    /// <summary>
    /// Places the model as <paramref name="stages"/> say (a user's own split, e.g. to compare with the planner's or to
    /// pin stages to machines) and predicts it as the planner predicts its own plans. The stages must cover the
    /// model's blocks in order, each on its own usable device with room for it; the explanation names the planner's
    /// own choice and its predicted speed beside this one's.
    /// </summary>
    /// <returns>The plan (one pipeline), or a failure saying which stage does not fit or what is wrong with the split.</returns>
    public static PlanResult Place(PlanRequest request, ClusterDescription cluster, IReadOnlyList<StagePlacement> stages, PlannerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(stages);
        request.Validate();
        options ??= PlannerOptions.Default;
        var cost = new CostModel(request, options);
        if (CheckPlacement(cost, cluster, stages) is { } problem)
            return PlanResult.Fail(problem);
        var devices = stages.Select(s => cluster.FindDevice(s.DeviceId)!).ToList();
        var pipeline = cost.Build(cluster, 0, devices, stages.Select(s => s.Layers).ToList());

        var sb = new StringBuilder("Placed as asked: ");
        sb.AppendJoin(", ", pipeline.Stages.Select(st => $"{st.NodeName} layers {st.Layers}"));
        sb.Append(" (").Append(Bytes.Ms(pipeline.Stages.Sum(st => st.HopSeconds))).Append(" of hops per token). ");
        var own = Plan(request with { Replicas = 1 }, cluster, options);
        if (own.Succeeded)
        {
            var mine = own.Plan.Pipelines[0];
            var ratio = pipeline.SingleStreamTokensPerSecond / mine.SingleStreamTokensPerSecond;
            sb.Append("The planner's own plan (").AppendJoin(", ", mine.Stages.Select(st => $"{st.NodeName} layers {st.Layers}"))
                .Append(") predicts ").Append(Bytes.Rate(mine.SingleStreamTokensPerSecond)).Append(" single-stream; this one ")
                .Append(Bytes.Rate(pipeline.SingleStreamTokensPerSecond)).Append(" (")
                .Append((ratio * 100).ToString("0", System.Globalization.CultureInfo.InvariantCulture)).Append(" %). ");
        }
        return PlanResult.Success(new Plan
        {
            ModelName = request.Model.Name,
            LayerCount = request.Model.LayerCount,
            Pipelines = [Prediction.Finish(cost, cluster, devices, pipeline)],
            Explanation = sb.ToString().TrimEnd(),
        });
    }

    private static PlanFailure? CheckPlacement(CostModel cost, ClusterDescription cluster, IReadOnlyList<StagePlacement> stages)
    {
        PlanFailure Fail(string message, long required = 0, long available = 0) =>
            new() { RequiredBytes = required, AvailableBytes = available, Message = message };
        if (stages.Count == 0)
            return Fail("The placement names no stage.");
        var next = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in stages)
        {
            if (s.Layers.First != next || s.Layers.IsEmpty)
            {
                return Fail(s.Layers.First > next ? $"The placement leaves layers {next}-{s.Layers.First} to no stage: stages must cover 0-{cost.L} in order, each starting where the one before ends."
                    : $"Stage layers {s.Layers} do not follow on from layer {next}: stages must cover 0-{cost.L} in order, each non-empty and starting where the one before ends.");
            }
            next = s.Layers.Last;
            if (next > cost.L)
                return Fail($"Stage layers {s.Layers} go past the model's last layer: it has {cost.L} (0-{cost.L}).");
            if (!seen.Add(s.DeviceId))
                return Fail($"The placement puts two stages on {s.DeviceId}: give each stage a device of its own.");
            var d = cluster.FindDevice(s.DeviceId);
            if (d is null)
                return Fail($"The placement names {s.DeviceId}, which is not in the pool.");
            if (!cluster.IsUsable(d) || cost.Request.ExcludedDevices.Contains(s.DeviceId, StringComparer.Ordinal))
                return Fail($"The placement names {d.NodeName} ({s.DeviceId}), which cannot take a stage now ({cluster.StatusOf(d.NodeId)}).");
            var need = cost.Memory(s.Layers.First, s.Layers.Last);
            if (need > cost.Available(d))
            {
                return Fail($"Layers {s.Layers} need {Bytes.Format(need)} on {d.NodeName}, which has {Bytes.Format(cost.Available(d))} free after headroom: " +
                    "give it fewer layers, or " + FailureAnalyzer.Advice + ".", need, cost.Available(d));
            }
        }
        return next == cost.L ? null : Fail($"The placement leaves layers {next}-{cost.L} to no stage: the last stage must end at layer {cost.L}.");
    }

    /// <summary>
    /// Repairs <paramref name="current"/> after devices were lost, drained or shrank: stages whose device is still
    /// usable and still has room keep their layers; the orphaned layers go to one spare device or to the neighbouring
    /// stages (whichever predicts faster), so only the orphaned layers move. When neither works, the pipeline is
    /// planned afresh on the devices left. The result lists every move.
    /// </summary>
    public static ReplanResult Replan(Plan current, PlanRequest request, ClusterDescription cluster, ReplanReason reason, PlannerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(cluster);
        request.Validate();
        var cost = new CostModel(request, options ?? PlannerOptions.Default);
        return Finish(cost, cluster, Replanner.Replan(current, cost, cluster, reason));
    }

    /// <summary>
    /// Looks for a better plan (a node came back, a faster one joined) and returns it only when it is worth the move:
    /// its predicted single-stream speed must beat the current plan's (re-predicted on today's cluster) by
    /// <see cref="PlannerOptions.ImproveMinSpeedGain"/> plus <see cref="PlannerOptions.ImproveGainPerMovedModel"/>
    /// times the fraction of the model that would move. The margin is the hysteresis: two plans of nearly equal
    /// speed never alternate. A current plan that no longer fits is repaired with <see cref="Replan"/> instead.
    /// </summary>
    public static ReplanResult Improve(Plan current, PlanRequest request, ClusterDescription cluster, PlannerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(cluster);
        request.Validate();
        options ??= PlannerOptions.Default;
        var cost = new CostModel(request, options);
        return Finish(cost, cluster, Replanner.Improve(current, cost, cluster));
    }

    /// <summary>
    /// The bytes one decoded token reads in a stage holding <paramref name="layers"/> as the planner counts them (its
    /// blocks, the KV cache at <see cref="PlannerOptions.PredictionContextFill"/>, the head when last, over
    /// <see cref="PlannerOptions.HeadSpeedFactor"/>): a stage's
    /// predicted time per token is this over its device's speed, so this over a stage's <em>observed</em> time per token
    /// is the device speed that makes the prediction match what was seen.
    /// </summary>
    public static double StageReadBytes(PlanRequest request, LayerSpan layers, PlannerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        if (layers.First < 0 || layers.Last > request.Model.LayerCount || layers.Count <= 0)
            throw new ArgumentOutOfRangeException(nameof(layers), $"Layers {layers} are not a non-empty range of the model's {request.Model.LayerCount}.");
        return new CostModel(request, options ?? PlannerOptions.Default).ReadBytes(layers.First, layers.Last);
    }

    /// <summary>A changed plan with its prefill and latency predictions; a plan kept is returned as it came.</summary>
    private static ReplanResult Finish(CostModel cost, ClusterDescription cluster, ReplanResult result) =>
        result is { Changed: true, Plan: { } plan } ? result with { Plan = Prediction.Finish(cost, cluster, plan, cluster.FindDevice) } : result;

    /// <summary>Devices that may take a stage: usable node, not excluded, a measured bandwidth, room left after headroom; sorted by id.</summary>
    internal static List<DeviceInfo> Eligible(CostModel cost, ClusterDescription cluster)
    {
        var excluded = cost.Request.ExcludedDevices.ToHashSet(StringComparer.Ordinal);
        return cluster.Devices
            .Where(d => cluster.IsUsable(d) && !excluded.Contains(d.Id) && d.MemoryBandwidthGBps > 0 && double.IsFinite(d.MemoryBandwidthGBps) && cost.Available(d) > 0)
            .OrderBy(d => d.Id, StringComparer.Ordinal)
            .ToList();
    }

    private static string ExplainPlacement(CostModel cost, ClusterDescription cluster, List<DeviceInfo> eligible, PipelinePlan pipeline, int considered)
    {
        var request = cost.Request;
        var sb = new StringBuilder();
        var whole = cost.WholeModelBytes;
        sb.Append(request.Model.Name).Append(" needs ").Append(Bytes.Format(whole)).Append(" on one device (weights ")
            .Append(Bytes.Format(request.Model.TotalWeightBytes)).Append(", KV cache ").Append(Bytes.Format(cost.Kv(0, cost.L)))
            .Append(" for ").Append(request.ContextLength).Append(" tokens x ").Append(request.MaxSessions)
            .Append(request.MaxSessions == 1 ? " session" : " sessions").Append(", scratch). ");
        var roomy = eligible.Count(d => cost.Available(d) >= whole);
        if (pipeline.Stages.Count == 1)
        {
            var s = pipeline.Stages[0];
            sb.Append("It fits on ").Append(s.DeviceId).Append(" on ").Append(s.NodeName).Append(", the fastest of ").Append(roomy)
                .Append(roomy == 1 ? " device" : " devices").Append(" with room for it, so it runs as one stage with no network hops. ");
        }
        else
        {
            if (roomy == 0)
            {
                var largest = eligible.Max(cost.Available);
                sb.Append("No device has room for it (the largest has ").Append(Bytes.Format(largest)).Append(" free after headroom), so it is split over ");
            }
            else
            {
                sb.Append("Splitting it predicts faster decoding than any single device with room for it, so it is split over ");
            }
            sb.Append(pipeline.Stages.Count).Append(" devices, layers in proportion to measured speed as memory allows (");
            sb.AppendJoin(", ", pipeline.Stages.Select(st =>
            {
                var d = cluster.FindDevice(st.DeviceId)!;
                return $"{st.DeviceId} {Bytes.F(d.MemoryBandwidthGBps)} GB/s: {st.Layers.Count} layers";
            }));
            sb.Append("); stages follow the cheapest links (").Append(Bytes.Ms(pipeline.Stages.Sum(st => st.HopSeconds))).Append(" of hops per token). ");
        }
        sb.Append("Considered ").Append(considered).Append(" of ").Append(eligible.Count).Append(" usable devices");
        if (eligible.Count != cluster.Devices.Count)
            sb.Append(" (").Append(cluster.Devices.Count).Append(" in the pool)");
        sb.Append(". ");
        return sb.ToString();
    }
}
