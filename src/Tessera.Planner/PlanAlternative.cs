namespace Tessera.Planner;

/// <summary>
/// A plan the planner considered and did not choose, with its predicted speeds and why (for <c>tessera plan --explain</c>);
/// see <see cref="PlanRequest.Explain"/>.
/// </summary>
/// <param name="Description">What it is, e.g. "one stage on n1/gpu0" or "4 stages (one more)".</param>
/// <param name="Reason">The kind of reason it lost.</param>
/// <param name="Why">One sentence with the figures.</param>
/// <param name="Stages">Stages per pipeline, when it fits.</param>
/// <param name="Replicas">Replicas it has (1 unless it is about replicas).</param>
/// <param name="SingleStreamTokensPerSecond">Predicted single-stream tokens/s, when it fits.</param>
/// <param name="MaxThroughputTokensPerSecond">Predicted saturated tokens/s over its replicas, when it fits.</param>
/// <param name="TokenLatencyP99Seconds">Predicted p99 time per token, when it fits.</param>
public sealed record PlanAlternative(
    string Description,
    AlternativeReason Reason,
    string Why,
    int? Stages = null,
    int Replicas = 1,
    double? SingleStreamTokensPerSecond = null,
    double? MaxThroughputTokensPerSecond = null,
    double? TokenLatencyP99Seconds = null);
