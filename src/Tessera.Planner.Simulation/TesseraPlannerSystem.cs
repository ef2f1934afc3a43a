using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>
/// Tessera: <see cref="PoolPlanner.Plan"/> at the start; when a machine holding a stage leaves,
/// <see cref="PoolPlanner.Replan"/> on the pool that is left, and the pipeline is down for detection + re-plan +
/// loading the moved layers; returning machines are offered to <see cref="PoolPlanner.Improve"/> every
/// <see cref="ImproveIntervalSeconds"/>, whose moves are made while the old plan serves (as deployments do).
/// </summary>
public sealed class TesseraPlannerSystem : SimulatedSystem
{
    /// <summary>
    /// The coordinator declares a node down when phi reaches 8 (about 2.6 s after the last 1 s heartbeat on a quiet
    /// link) or after 10 s of silence; 5 s allows for jittery home links.
    /// </summary>
    public const double DetectionSeconds = 5;

    /// <summary>Re-planning and telling the stages their new layers: the planner takes milliseconds, the messages a round trip or two.</summary>
    public const double ReplanSeconds = 1;

    /// <summary>
    /// How often Improve looks at returned machines. The coordinator's default is 60 s; 300 s here because at 10,000
    /// machines the pool changes every minute and a full plan per minute would dominate the run. The cost: a returning
    /// faster machine is used up to 5 minutes later.
    /// </summary>
    public const double ImproveIntervalSeconds = 300;

    private Plan? _plan;
    private bool[] _inPlan = [];
    private bool _returned;
    private double _pendingAt = double.PositiveInfinity;
    private double _pendingRate;

    public override SystemKind Kind => SystemKind.Tessera;

    public override double TickSeconds => ImproveIntervalSeconds;

    public override (PipelinePrediction? Prediction, string? Failure) Start(SimulationContext context)
    {
        var result = PoolPlanner.Plan(context.Request, context.Pool.PlannerView, context.Pool.PlannerOptions);
        if (!result.Succeeded)
            return (null, result.Failure.Message);
        Adopt(context, result.Plan);
        var prediction = context.Evaluator.Predict(result.Plan);
        context.Timeline = new RateTimeline(prediction?.SaturatedTokensPerSecond ?? 0);
        return (prediction, prediction is null ? "the plan does not fit on the pool's true links" : null);
    }

    public override void NodeDown(SimulationContext context, int node, double seconds)
    {
        if (_plan is null || !_inPlan[node])
            return;
        context.Disruptions++;
        context.Repairs++;
        var cluster = context.Pool.PlannerViewWith(context.NodeUp);
        var result = PoolPlanner.Replan(_plan, context.Request, cluster, ReplanReason.NodeLost, context.Pool.PlannerOptions);
        // The replicas the machine held no stage of go on serving while the others are repaired (the router skips them).
        context.Timeline.Set(seconds, SurvivingRate(context, _plan, node));
        if (!result.Succeeded)
        {
            // Nothing fits on what is left: only the untouched replicas serve until a returning machine makes room (see Tick).
            _plan = null;
            _pendingAt = double.PositiveInfinity;
            return;
        }
        var load = LoadMoves(context, result.Moves);
        Adopt(context, result.Plan);
        // A second loss while loading waits for the slower of the two repairs.
        var recovered = seconds + DetectionSeconds + ReplanSeconds + load;
        _pendingAt = double.IsFinite(_pendingAt) ? Math.Max(_pendingAt, recovered) : recovered;
        _pendingRate = context.Evaluator.Predict(result.Plan)?.SaturatedTokensPerSecond ?? 0;
        context.WakeAt(_pendingAt);
    }

    public override void NodeUp(SimulationContext context, int node, double seconds) => _returned = true;

    public override void Tick(SimulationContext context, double seconds)
    {
        if (!_returned || double.IsFinite(_pendingAt))
            return;
        _returned = false;
        var cluster = context.Pool.PlannerViewWith(context.NodeUp);
        if (_plan is null)
        {
            var fresh = PoolPlanner.Plan(context.Request, cluster, context.Pool.PlannerOptions);
            if (!fresh.Succeeded)
                return;
            context.Repairs++;
            var loads = new List<(string, long)>();
            foreach (var s in fresh.Plan.Stages)
                loads.Add((s.DeviceId, s.WeightBytes));
            context.BytesLoaded += SumBytes(loads);
            Schedule(context, fresh.Plan, seconds + ReplanSeconds + context.Evaluator.LoadSeconds(loads));
            return;
        }
        var improved = PoolPlanner.Improve(_plan, context.Request, cluster, context.Pool.PlannerOptions);
        if (!improved.Succeeded || !improved.Changed)
            return;
        context.Repairs++;
        // The old plan keeps serving while the moved layers load; the new one takes over when they have.
        Schedule(context, improved.Plan, seconds + LoadMoves(context, improved.Moves));
    }

    public override void Wake(SimulationContext context, double seconds)
    {
        if (seconds < _pendingAt)
            return; // an earlier wake, overtaken by a later repair
        context.Timeline.Set(seconds, _pendingRate);
        _pendingAt = double.PositiveInfinity;
    }

    private void Schedule(SimulationContext context, Plan plan, double at)
    {
        Adopt(context, plan);
        _pendingAt = at;
        _pendingRate = context.Evaluator.Predict(plan)?.SaturatedTokensPerSecond ?? 0;
        context.WakeAt(at);
    }

    /// <summary>Saturated tokens/s of the plan's pipelines that hold no stage on <paramref name="node"/>.</summary>
    private static double SurvivingRate(SimulationContext context, Plan plan, int node)
    {
        var kept = new List<PipelinePlan>(plan.Pipelines.Count);
        foreach (var pipeline in plan.Pipelines)
        {
            var touched = false;
            foreach (var stage in pipeline.Stages)
                touched |= context.Pool.NodeOfDevice(stage.DeviceId).Index == node;
            if (!touched)
                kept.Add(pipeline);
        }
        return kept.Count == 0 ? 0 : context.Evaluator.Predict(plan with { Pipelines = kept })?.SaturatedTokensPerSecond ?? 0;
    }

    private static double LoadMoves(SimulationContext context, IReadOnlyList<LayerMove> moves)
    {
        var loads = new List<(string, long)>(moves.Count);
        foreach (var m in moves)
            loads.Add((m.ToDeviceId, m.Bytes));
        context.BytesLoaded += SumBytes(loads);
        return context.Evaluator.LoadSeconds(loads);
    }

    private static long SumBytes(List<(string, long Bytes)> loads)
    {
        long total = 0;
        foreach (var l in loads)
            total += l.Bytes;
        return total;
    }

    private void Adopt(SimulationContext context, Plan plan)
    {
        _plan = plan;
        _inPlan = new bool[context.Pool.Nodes.Count];
        foreach (var s in plan.Stages)
            _inPlan[context.Pool.NodeOfDevice(s.DeviceId).Index] = true;
    }
}
