namespace Tessera.Planner.Simulation;

/// <summary>
/// One system run over a simulated day: it places the model at the start, then hears of every machine that leaves
/// or returns and records on <see cref="SimulationContext.Timeline"/> what it serves. Its repair rules are its own;
/// its predictions all go through <see cref="PipelineEvaluator"/>.
/// </summary>
public abstract class SimulatedSystem
{
    public abstract SystemKind Kind { get; }

    /// <summary>Seconds between calls to <see cref="Tick"/> (0: never).</summary>
    public virtual double TickSeconds => 0;

    /// <summary>Places the model on the whole pool; null prediction with the reason when it does not fit.</summary>
    public abstract (PipelinePrediction? Prediction, string? Failure) Start(SimulationContext context);

    public abstract void NodeDown(SimulationContext context, int node, double seconds);

    public virtual void NodeUp(SimulationContext context, int node, double seconds)
    {
    }

    public virtual void Tick(SimulationContext context, double seconds)
    {
    }

    /// <summary>Called at a time asked for with <see cref="SimulationContext.WakeAt"/>.</summary>
    public virtual void Wake(SimulationContext context, double seconds)
    {
    }
}
