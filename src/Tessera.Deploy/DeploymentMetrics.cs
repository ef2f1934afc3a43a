using System.Diagnostics.Metrics;

namespace Tessera.Deploy;

/// <summary>
/// The deployment controller's instruments (meter <see cref="MeterName"/>): plans changed, by deployment and by why. A
/// host exports them; without a listener they cost next to nothing.
/// </summary>
public static class DeploymentMetrics
{
    public const string MeterName = "Tessera.Deploy";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Replans = Meter.CreateCounter<long>("tessera.deployment.replans", "{plan}",
        "Plans a deployment moved to, by deployment and reason (node_lost, node_drained, link_cut, unreachable, improve)");

    /// <summary>The reason label of a plan change.</summary>
    internal static string Reason(PlanChange change) => change switch
    {
        PlanChange.NodeLost => "node_lost",
        PlanChange.NodeDrained => "node_drained",
        PlanChange.LinkCut => "link_cut",
        PlanChange.Unreachable => "unreachable",
        PlanChange.Improved => "improve",
        _ => throw new ArgumentOutOfRangeException(nameof(change), change, null),
    };

    internal static void Replanned(string deployment, PlanChange change) =>
        Replans.Add(1, new KeyValuePair<string, object?>("deployment", deployment), new KeyValuePair<string, object?>("reason", Reason(change)));
}
