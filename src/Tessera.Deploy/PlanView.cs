using Tessera.Engine.Backends;
using Tessera.Planner;

namespace Tessera.Deploy;

/// <summary>
/// What <c>POST /api/plans</c> and <c>tessera plan</c> show: where a deployment's layers would go on today's pool and
/// how fast it would be, before anything moves.
/// </summary>
/// <param name="Name">The model id the deployment would have.</param>
/// <param name="PromptTokens">The prompt length the time to first token is predicted for.</param>
/// <param name="SingleStreamTokensPerSecond">Predicted decode speed of one session alone (the slowest replica's).</param>
/// <param name="MaxThroughputTokensPerSecond">Predicted tokens/s over all replicas with every stage busy.</param>
/// <param name="PrefillSeconds">Predicted time to take in a prompt of <paramref name="PromptTokens"/> (the slowest replica's).</param>
/// <param name="TimeToFirstTokenSeconds">Prefill plus the first token's way back (the slowest replica's).</param>
/// <param name="TokenLatencyP50Milliseconds">Median time per token of one session, with the links' jitter (the slowest replica's).</param>
/// <param name="TokenLatencyP99Milliseconds">99th percentile of it: what one in a hundred tokens takes.</param>
/// <param name="Alternatives">With <c>explain</c>: the plans considered and rejected, and why.</param>
public sealed record PlanView(
    string Name,
    string Model,
    long ModelBytes,
    int LayerCount,
    int ContextLength,
    int MaxSessions,
    string Activations,
    int Replicas,
    double SingleStreamTokensPerSecond,
    double MaxThroughputTokensPerSecond,
    int PromptTokens,
    double PrefillSeconds,
    double TimeToFirstTokenSeconds,
    double TokenLatencyP50Milliseconds,
    double TokenLatencyP99Milliseconds,
    string Explanation,
    IReadOnlyList<PlannedStageView> Stages,
    IReadOnlyList<PlanAlternativeView> Alternatives);

/// <summary>A plan the planner considered and did not choose: what it is, why not, and its predicted speeds when it fits.</summary>
/// <param name="Reason">did-not-fit, slower, less-throughput, more-hops, hop-bound, crosses-jittery-link, fewer-replicas or single-stream-too-slow.</param>
public sealed record PlanAlternativeView(
    string Description,
    string Reason,
    string Why,
    int? Stages,
    int Replicas,
    double? SingleStreamTokensPerSecond,
    double? MaxThroughputTokensPerSecond,
    double? TokenLatencyP99Milliseconds);

/// <summary>One stage of a plan: its device, layers, memory and predicted time per token.</summary>
public sealed record PlannedStageView(
    int Replica,
    int Index,
    string NodeId,
    string NodeName,
    string Device,
    int FirstLayer,
    int LastLayer,
    long WeightBytes,
    long KvBytes,
    long MemoryBytes,
    long AvailableBytes,
    double ComputeMilliseconds,
    double HopMilliseconds);

/// <summary>The extra fields of a <c>POST /api/plans</c> body, beside those of a deployment request.</summary>
/// <param name="PromptTokens">Prompt length for the time-to-first-token prediction (default 512).</param>
/// <param name="Explain">Also list the alternatives the planner rejected and why.</param>
public sealed record PlanQuery(int? PromptTokens = null, bool? Explain = null)
{
    public const int DefaultPromptTokens = 512;
}

internal static class PlanViews
{
    public static PlanView Of(StoredDeployment draft, Plan plan, int promptTokens) => new(
        draft.Name,
        draft.Spec.Model ?? draft.ModelPath,
        draft.ModelBytes,
        plan.LayerCount,
        draft.ContextLength,
        draft.MaxSessions,
        draft.Activations,
        plan.Pipelines.Count,
        Finite(plan.SingleStreamTokensPerSecond),
        Finite(plan.MaxThroughputTokensPerSecond),
        promptTokens,
        Finite(plan.Pipelines.Max(p => p.Prompt?.PrefillSeconds ?? 0)),
        Finite(plan.Pipelines.Max(p => p.Prompt?.TimeToFirstTokenSeconds ?? 0)),
        Finite(plan.Pipelines.Max(p => p.TokenLatencyP50Seconds) * 1000),
        Finite(plan.Pipelines.Max(p => p.TokenLatencyP99Seconds) * 1000),
        plan.Explanation,
        plan.Stages.Select(s => new PlannedStageView(s.Replica, s.Index, s.NodeId, s.NodeName, ComputeDevices.Local(s.DeviceId), s.Layers.First, s.Layers.Last,
            s.WeightBytes, s.KvBytes, s.MemoryBytes, s.AvailableBytes, s.ComputeSeconds * 1000, s.HopSeconds * 1000)).ToList(),
        plan.Alternatives.Select(a => new PlanAlternativeView(a.Description, ReasonName(a.Reason), a.Why, a.Stages, a.Replicas,
            Finite(a.SingleStreamTokensPerSecond), Finite(a.MaxThroughputTokensPerSecond), Finite(a.TokenLatencyP99Seconds * 1000))).ToList());

    /// <summary>"DoesNotFit" as "did-not-fit": a reason as scripts and people read it.</summary>
    private static string ReasonName(AlternativeReason reason) => reason == AlternativeReason.DoesNotFit
        ? "did-not-fit"
        : string.Concat(reason.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    private static double? Finite(double? value) => value is { } v ? Finite(v) : null;

    /// <summary>JSON has no infinity: a prediction without a bound (no time at all) is shown as 0, "unknown".</summary>
    private static double Finite(double value) => double.IsFinite(value) ? value : 0;
}
