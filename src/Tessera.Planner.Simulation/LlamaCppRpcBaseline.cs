using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>
/// llama.cpp over RPC, as its users run it: a main host lists <c>rpc-server</c>s by hand and the layers are split
/// evenly over the devices (<c>--tensor-split</c> of equal parts). Modelled: the fewest of the largest GPUs (CPUs only
/// after every GPU: rpc-servers are GPU machines) over which an even split fits, in order of size; no failover: when a device of the pipeline leaves, it is down until
/// someone restarts it by hand (<see cref="RestartSeconds"/>) with the devices up at that moment, and every stage
/// loads its weights again. Left out: returning machines (nobody adds them back), rpc-server's tensor cache (which
/// would shorten the reload), and the main host pushing weights through its own uplink (slower over home internet
/// than the per-machine load the simulator charges every system).
/// </summary>
public sealed class LlamaCppRpcBaseline : PipelineBaseline
{
    /// <summary>Assumed: someone notices the dead pipeline and restarts it with a new --rpc list in 30 minutes.</summary>
    public const double RestartSeconds = 1800;

    public override SystemKind Kind => SystemKind.LlamaCppRpc;

    protected override string NotFitting => "an even split fits on no set of the largest devices";

    public override void NodeDown(SimulationContext context, int node, double seconds)
    {
        if (!InPipeline[node])
            return;
        context.Disruptions++;
        context.Repairs++;
        var (stages, prediction) = Choose(context);
        if (stages is null)
        {
            DownForGood(context, seconds);
            return;
        }
        Use(context, stages);
        var loads = new List<(string, long)>(stages.Count);
        foreach (var s in stages)
        {
            var bytes = context.Request.Model.StageWeightBytes(s.Layers);
            loads.Add((s.DeviceId, bytes));
            context.BytesLoaded += bytes;
        }
        DownUntil(context, seconds, seconds + RestartSeconds + context.Evaluator.LoadSeconds(loads), prediction!.SaturatedTokensPerSecond);
    }

    /// <summary>The k largest usable GPUs, then CPUs (memory, then bandwidth, then id) for the smallest k whose even split fits.</summary>
    protected override (IReadOnlyList<StagePlacement>? Stages, PipelinePrediction? Prediction) Choose(SimulationContext context)
    {
        var layers = context.Request.Model.LayerCount;
        var largest = Baselines.LargestUsable(context, layers, gpusFirst: true);
        for (var k = 1; k <= largest.Count; k++)
        {
            var stages = new StagePlacement[k];
            var first = 0;
            for (var i = 0; i < k; i++)
            {
                // llama.cpp rounds the split's boundaries; the first stages take the remainder, one layer each.
                var count = layers / k + (i < layers % k ? 1 : 0);
                stages[i] = new StagePlacement(largest[i].Id, new LayerSpan(first, first + count));
                first += count;
            }
            if (context.Evaluator.Predict([stages]) is { } prediction)
                return (stages, prediction);
        }
        return (null, null);
    }
}
