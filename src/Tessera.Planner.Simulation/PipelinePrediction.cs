namespace Tessera.Planner.Simulation;

/// <summary>What the planner's cost model predicts for a system's placement on the pool's true links.</summary>
/// <param name="SingleStreamTokensPerSecond">One session alone (every stage and hop in turn).</param>
/// <param name="SaturatedTokensPerSecond">Every stage busy: the sum over pipelines of 1 / slowest stage.</param>
/// <param name="NodesUsed">Distinct machines holding a stage.</param>
/// <param name="Stages">Stages over all pipelines.</param>
/// <param name="TokenLatencyP99Seconds">The slowest pipeline's 99th-percentile time per token of one session, with the links' jitter.</param>
public sealed record PipelinePrediction(double SingleStreamTokensPerSecond, double SaturatedTokensPerSecond, int NodesUsed, int Stages, double TokenLatencyP99Seconds = 0)
{
    public static readonly PipelinePrediction None = new(0, 0, 0, 0);
}
