using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>
/// Predicts any system's pipeline with the product's cost model: <see cref="PoolPlanner.Place"/> on a cluster of just
/// the pipeline's devices and the true links between consecutive stages. Every system, Tessera's planner included,
/// is judged by this one function, so differences come from where the layers are, never from two ways of counting.
/// </summary>
public sealed class PipelineEvaluator(SimulatedPool pool, PlanRequest request)
{
    public SimulatedPool Pool { get; } = pool;

    public PlanRequest Request { get; } = request;

    /// <summary>The predicted pipeline, or the planner's reason why the stages do not fit (a stage too large for its device).</summary>
    public PlanResult Place(IReadOnlyList<StagePlacement> stages)
    {
        var devices = new List<DeviceInfo>(stages.Count);
        var links = new List<LinkInfo>(stages.Count);
        for (var i = 0; i < stages.Count; i++)
        {
            var index = Pool.DeviceIndex(stages[i].DeviceId);
            devices.Add(Pool.Devices[index]);
            if (i == 0)
                continue;
            var a = Pool.DeviceNode[Pool.DeviceIndex(stages[i - 1].DeviceId)];
            var b = Pool.DeviceNode[index];
            if (a != b)
                links.Add(Pool.LinkBetween(a, b).ToLinkInfo(Pool.Nodes[a].Id, Pool.Nodes[b].Id));
        }
        var cluster = new ClusterDescription { Devices = devices, Links = links };
        return PoolPlanner.Place(Request with { Replicas = 1, PreferredDevices = [], ExcludedDevices = [] }, cluster, stages);
    }

    /// <summary>Every pipeline of <paramref name="pipelines"/> predicted on the true links; null when one does not fit.</summary>
    public PipelinePrediction? Predict(IEnumerable<IReadOnlyList<StagePlacement>> pipelines)
    {
        double single = double.PositiveInfinity, saturated = 0, p99 = 0;
        var nodes = new HashSet<int>();
        var stages = 0;
        foreach (var p in pipelines)
        {
            var result = Place(p);
            if (!result.Succeeded)
                return null;
            var pipeline = result.Plan.Pipelines[0];
            single = Math.Min(single, pipeline.SingleStreamTokensPerSecond);
            saturated += pipeline.MaxThroughputTokensPerSecond;
            p99 = Math.Max(p99, pipeline.TokenLatencyP99Seconds);
            foreach (var s in p)
                nodes.Add(Pool.DeviceNode[Pool.DeviceIndex(s.DeviceId)]);
            stages += p.Count;
        }
        return stages == 0 ? null : new PipelinePrediction(single, saturated, nodes.Count, stages, p99);
    }

    /// <summary>A planner's plan predicted on the true links (it was chosen with the planner's view of them).</summary>
    public PipelinePrediction? Predict(Plan plan)
    {
        var pipelines = new List<IReadOnlyList<StagePlacement>>(plan.Pipelines.Count);
        foreach (var p in plan.Pipelines)
        {
            var stages = new StagePlacement[p.Stages.Count];
            for (var i = 0; i < stages.Length; i++)
                stages[i] = new StagePlacement(p.Stages[i].DeviceId, p.Stages[i].Layers);
            pipelines.Add(stages);
        }
        return Predict(pipelines);
    }

    /// <summary>
    /// Seconds to load weights onto machines: each machine takes what moves to it at its class's load rate
    /// (<see cref="LinkCatalog.LoadBytesPerSecond"/>), all machines at once, so the slowest decides.
    /// </summary>
    public double LoadSeconds(IEnumerable<(string DeviceId, long Bytes)> loads)
    {
        var perNode = new Dictionary<int, long>();
        foreach (var (deviceId, bytes) in loads)
        {
            var node = Pool.DeviceNode[Pool.DeviceIndex(deviceId)];
            perNode[node] = perNode.GetValueOrDefault(node) + bytes;
        }
        var seconds = 0.0;
        foreach (var (node, bytes) in perNode)
            seconds = Math.Max(seconds, bytes / LinkCatalog.LoadBytesPerSecond(Pool.Nodes[node].Class));
        return seconds;
    }

    /// <summary>
    /// Bytes a device must load to hold <paramref name="next"/> when it held <paramref name="previous"/> (null: nothing):
    /// the stage's weights less the blocks it already had.
    /// </summary>
    public long BytesToLoad(LayerSpan next, LayerSpan? previous)
    {
        var bytes = Request.Model.StageWeightBytes(next);
        if (previous is { } p && p.Overlap(next) > 0)
        {
            var first = Math.Max(p.First, next.First);
            bytes -= Request.Model.LayerBytes(new LayerSpan(first, first + p.Overlap(next)));
        }
        return bytes;
    }
}
