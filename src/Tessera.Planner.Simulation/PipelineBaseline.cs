using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>
/// A baseline that runs one pipeline chosen by its own rule (llama.cpp's even split, exo's ring) and, after a
/// failure, serves nothing until its repair completes: what the two share, so each states only its rule.
/// </summary>
public abstract class PipelineBaseline : SimulatedSystem
{
    private double _recoverAt = double.PositiveInfinity;
    private double _recoverRate;

    /// <summary>The pipeline now (null: none fits).</summary>
    protected IReadOnlyList<StagePlacement>? Stages { get; private set; }

    /// <summary>For each machine, whether it holds a stage of <see cref="Stages"/>.</summary>
    protected bool[] InPipeline { get; private set; } = [];

    /// <summary>Why the baseline's rule finds no pipeline, for the table.</summary>
    protected abstract string NotFitting { get; }

    /// <summary>The baseline's rule on the machines up now: the stages and their prediction, or nulls.</summary>
    protected abstract (IReadOnlyList<StagePlacement>? Stages, PipelinePrediction? Prediction) Choose(SimulationContext context);

    public override (PipelinePrediction? Prediction, string? Failure) Start(SimulationContext context)
    {
        var (stages, prediction) = Choose(context);
        context.Timeline = new RateTimeline(prediction?.SaturatedTokensPerSecond ?? 0);
        if (stages is null)
            return (null, NotFitting);
        Use(context, stages);
        return (prediction, null);
    }

    public override void Wake(SimulationContext context, double seconds)
    {
        if (seconds < _recoverAt)
            return; // an earlier wake, overtaken by a later repair
        context.Timeline.Set(seconds, _recoverRate);
        _recoverAt = double.PositiveInfinity;
    }

    /// <summary>Down from <paramref name="seconds"/> until <paramref name="recovered"/> (or a repair already due later), then <paramref name="rate"/>.</summary>
    protected void DownUntil(SimulationContext context, double seconds, double recovered, double rate)
    {
        context.Timeline.Set(seconds, 0);
        _recoverAt = double.IsFinite(_recoverAt) ? Math.Max(_recoverAt, recovered) : recovered;
        _recoverRate = rate;
        context.WakeAt(_recoverAt);
    }

    /// <summary>Down with no repair in sight (nothing fits on what is up).</summary>
    protected void DownForGood(SimulationContext context, double seconds)
    {
        if (Stages is not null)
            context.Timeline.Set(seconds, 0);
        Stages = null;
        InPipeline = new bool[context.Pool.Nodes.Count];
        _recoverAt = double.PositiveInfinity;
    }

    protected virtual void Use(SimulationContext context, IReadOnlyList<StagePlacement> stages)
    {
        Stages = stages;
        InPipeline = new bool[context.Pool.Nodes.Count];
        foreach (var s in stages)
            InPipeline[context.Pool.NodeOfDevice(s.DeviceId).Index] = true;
    }
}
