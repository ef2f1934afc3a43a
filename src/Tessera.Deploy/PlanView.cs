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
    string Explanation,
    IReadOnlyList<PlannedStageView> Stages);

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
        plan.Explanation,
        plan.Stages.Select(s => new PlannedStageView(s.Replica, s.Index, s.NodeId, s.NodeName, ComputeDevices.Local(s.DeviceId), s.Layers.First, s.Layers.Last,
            s.WeightBytes, s.KvBytes, s.MemoryBytes, s.AvailableBytes, s.ComputeSeconds * 1000, s.HopSeconds * 1000)).ToList());

    /// <summary>JSON has no infinity: a prediction without a bound (no time at all) is shown as 0, "unknown".</summary>
    private static double Finite(double value) => double.IsFinite(value) ? value : 0;
}
