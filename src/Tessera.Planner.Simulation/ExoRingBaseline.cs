using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>
/// exo's ring memory-weighted partitioning: every device of the cluster takes a share of the layers in proportion to
/// its memory, in exo's ring order (memory descending, then id: exo sorts its topology so), with no regard to speed
/// or links. Modelled: all devices when the pool has at most <see cref="RingSize"/>, else the largest ones (more when
/// they cannot hold the model); when a ring member leaves, detection, then a new partition over what is up, and each
/// device loads the layers it did not hold; when a machine that would enter the ring returns, the ring is
/// re-partitioned the same way (exo re-shards on every topology change) without the detection. Left out: exo's
/// download of shards from the hub (the simulator charges every system the same per-machine load), its other
/// partitioning strategies, and tensor parallelism.
/// </summary>
public sealed class ExoRingBaseline : PipelineBaseline
{
    /// <summary>Largest ring considered: exo is built for a handful of machines; a ring of thousands would give most of them no layer.</summary>
    public const int RingSize = 16;

    /// <summary>Assumed: exo's peers notice a silent peer after its health checks time out, about 15 s.</summary>
    public const double DetectionSeconds = 15;

    private DeviceInfo? _smallest;

    public override SystemKind Kind => SystemKind.ExoRing;

    protected override string NotFitting => "no memory-weighted ring of the largest devices holds it";

    public override void NodeDown(SimulationContext context, int node, double seconds)
    {
        if (Stages is null || !InPipeline[node])
            return;
        context.Disruptions++;
        Repartition(context, seconds, DetectionSeconds);
    }

    public override void NodeUp(SimulationContext context, int node, double seconds)
    {
        if (Stages is null || _smallest is null)
        {
            Repartition(context, seconds, 0); // down for want of memory: try again with the machine back
            return;
        }
        var enters = Stages.Count < RingSize;
        foreach (var spec in context.Pool.Nodes[node].Machine.Devices)
        {
            if (spec.MemoryBytes > _smallest.FreeMemoryBytes || (spec.MemoryBytes == _smallest.FreeMemoryBytes && spec.BandwidthGBps > _smallest.MemoryBandwidthGBps))
                enters = true;
        }
        if (enters)
            Repartition(context, seconds, 0);
    }

    private void Repartition(SimulationContext context, double seconds, double detection)
    {
        var (ring, prediction) = Choose(context);
        if (ring is null)
        {
            DownForGood(context, seconds);
            return;
        }
        context.Repairs++;
        var previous = new Dictionary<string, LayerSpan>(StringComparer.Ordinal);
        foreach (var s in Stages ?? [])
            previous[s.DeviceId] = s.Layers;
        var loads = new List<(string, long)>(ring.Count);
        foreach (var s in ring)
        {
            var bytes = context.Evaluator.BytesToLoad(s.Layers, previous.TryGetValue(s.DeviceId, out var p) ? p : null);
            loads.Add((s.DeviceId, bytes));
            context.BytesLoaded += bytes;
        }
        DownUntil(context, seconds, seconds + detection + context.Evaluator.LoadSeconds(loads), prediction!.SaturatedTokensPerSecond);
        Use(context, ring);
    }

    protected override void Use(SimulationContext context, IReadOnlyList<StagePlacement> stages)
    {
        base.Use(context, stages);
        DeviceInfo? smallest = null;
        foreach (var s in stages)
        {
            var d = context.Pool.Devices[context.Pool.DeviceIndex(s.DeviceId)];
            if (smallest is null || Baselines.CompareLargest(d, smallest) > 0)
                smallest = d;
        }
        _smallest = smallest;
    }

    /// <summary>The ring over the largest usable devices (more when they cannot hold the model), layers in proportion to memory.</summary>
    protected override (IReadOnlyList<StagePlacement>? Stages, PipelinePrediction? Prediction) Choose(SimulationContext context)
    {
        var layers = context.Request.Model.LayerCount;
        var candidates = Baselines.LargestUsable(context, layers);
        for (var k = Math.Min(RingSize, candidates.Count); k <= candidates.Count; k++)
        {
            var ring = MemoryWeighted(candidates, k, layers);
            if (context.Evaluator.Predict([ring]) is { } prediction)
                return (ring, prediction);
        }
        return (null, null);
    }

    /// <summary>
    /// exo's split: each device's share of the ring's memory is a fraction of [0, 1) (rounded to 5 decimals, the last
    /// ending at 1), and its layers are [floor(start x L), floor(end x L)); devices left with no layer drop out.
    /// </summary>
    internal static IReadOnlyList<StagePlacement> MemoryWeighted(IReadOnlyList<DeviceInfo> byMemory, int k, int layers)
    {
        double total = 0;
        for (var i = 0; i < k; i++)
            total += byMemory[i].FreeMemoryBytes;
        var stages = new List<StagePlacement>(k);
        double start = 0;
        for (var i = 0; i < k; i++)
        {
            var end = i == k - 1 ? 1.0 : Math.Round(start + byMemory[i].FreeMemoryBytes / total, 5);
            var first = (int)Math.Floor(start * layers);
            var last = (int)Math.Floor(end * layers);
            if (last > first)
                stages.Add(new StagePlacement(byMemory[i].Id, new LayerSpan(first, last)));
            start = end;
        }
        return stages;
    }
}
