using Tessera.Planner;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// The one way a deployment becomes a question for the planner (<see cref="PlanRequest"/>), and its stored stages
/// the planner's <see cref="Plan"/> again. Pure.
/// </summary>
internal static class PlanRequests
{
    /// <summary>What the planner is asked for a deployment of <paramref name="profile"/> as <paramref name="deployment"/> stores it.</summary>
    public static PlanRequest For(StoredDeployment deployment, ModelProfile profile) => new()
    {
        Model = profile,
        ContextLength = deployment.ContextLength,
        MaxSessions = deployment.MaxSessions,
        Replicas = deployment.Spec.Replicas ?? 1,
        AutoReplicas = deployment.Spec.AutoReplicas == true,
        ActivationBytesPerElement = ActivationFormats.BytesPerElement(ActivationFormats.Parse(deployment.Activations)),
        // A repair moves as few layers as it can: neighbours that take a lost stage's layers leave fewer stages.
        MinStages = deployment.Spec.MinStages ?? 1,
    };

    /// <summary>The stored stages as the planner's plan (predictions from the stored speeds).</summary>
    public static Plan CurrentPlan(StoredDeployment stored) => new()
    {
        ModelName = stored.Name,
        LayerCount = stored.LayerCount,
        Explanation = stored.Explanation,
        Pipelines = stored.Stages.GroupBy(s => s.Replica).OrderBy(g => g.Key)
            .Select(g => new PipelinePlan(g.Key, g.OrderBy(s => s.Index)
                .Select(s => new PlanStage(s.Replica, s.Index, s.DeviceId, s.NodeId, s.NodeName, new LayerSpan(s.FirstLayer, s.LastLayer),
                    s.WeightBytes, s.KvBytes, 0, 0, s.PredictedTokensPerSecond > 0 ? 1 / s.PredictedTokensPerSecond : 0, 0))
                .ToList()))
            .ToList(),
    };
}
