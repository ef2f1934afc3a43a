using Tessera.Pool.Membership;

namespace Tessera.Deploy;

/// <summary>Why a deployment's plan changes: it decides which replaced stages stop when, and how the change is told.</summary>
internal enum PlanChange
{
    /// <summary>Nodes were lost: their stages cannot be told to stop; the rest stop at once (the pipeline is broken).</summary>
    NodeLost,

    /// <summary>Nodes are drained: every replaced stage stops after the pipeline has moved.</summary>
    NodeDrained,

    /// <summary>A link between two stages is cut: the far node is left out; replaced stages stop at once (the pipeline is broken).</summary>
    LinkCut,

    /// <summary>The coordinator cannot reach stages whose agents stay connected: their nodes are left out; replaced stages stop at once.</summary>
    Unreachable,

    /// <summary>A better plan was found: every replaced stage stops after the pipeline has moved.</summary>
    Improved,
}

/// <summary>A stage of a replica with the endpoint its agent reported (null while it has none), and whether it reported it ready there.</summary>
internal readonly record struct PlacedStage(StoredStage Stage, string? Endpoint, bool Ready);

/// <summary>
/// What a broken pipeline's recovery concludes from the facts the coordinator has — the node snapshot, the stage
/// the pipeline could not reach, and which stages answer the coordinator itself. Pure: the controller gathers the
/// facts (waiting, probing) and carries the conclusion out.
/// </summary>
internal static class RecoveryRules
{
    /// <summary>The nodes of <paramref name="stages"/> that the membership no longer sees serving (gone, down, disconnected).</summary>
    public static HashSet<string> LostNodes(IEnumerable<StoredStage> stages, IReadOnlyDictionary<string, PoolNode> nodes) =>
        stages.Where(s => !IsServing(s.NodeId, nodes)).Select(s => s.NodeId).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// The link a failure points at when both of its ends are alive: the stage before <paramref name="unreachable"/>
    /// could not reach it, yet both nodes are connected (and distinct). The coordinator then probes the far stage: if it
    /// answers, the link is cut. The first stage's upstream is the coordinator itself, which cannot tell a cut link to it
    /// from a dead stage, so it never counts.
    /// </summary>
    public static (StoredStage Upstream, StoredStage Downstream)? SuspectedCutLink(IReadOnlyList<PlacedStage> replica, string? unreachable,
        IReadOnlyDictionary<string, PoolNode> nodes)
    {
        if (unreachable is null)
            return null;
        var k = IndexOf(replica, unreachable);
        if (k <= 0)
            return null;
        var (up, down) = (replica[k - 1].Stage, replica[k].Stage);
        if (up.NodeId == down.NodeId || !IsServing(up.NodeId, nodes) || !IsServing(down.NodeId, nodes))
            return null;
        return (up, down);
    }

    /// <summary>
    /// The stage of <paramref name="replica"/> that a stalled pipeline names: it stopped making progress and did not
    /// answer the driver's own status request (the driver runs in the coordinator, so the coordinator has just failed
    /// to reach it). Null when the failure is not a stall, names no stage, or names one the replica no longer has.
    /// </summary>
    public static StoredStage? StalledStage(IReadOnlyList<PlacedStage> replica, Serving.PipelineFailure failure)
    {
        if (!failure.Stalled || failure.UnreachableEndpoint is not { } endpoint)
            return null;
        var k = IndexOf(replica, endpoint);
        return k < 0 ? null : replica[k].Stage;
    }

    /// <summary>The endpoints of the stages their agents report ready: what the coordinator probes.</summary>
    public static IReadOnlyList<string> ReadyEndpoints(IReadOnlyList<PlacedStage> replica) =>
        replica.Where(s => s.Ready && s.Endpoint is not null).Select(s => s.Endpoint!).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>
    /// The nodes of stages reported ready that the coordinator cannot reach (<paramref name="problems"/>: endpoint to
    /// what went wrong, null when it answered) while their agents stay connected: a port black-holed, a firewall in the
    /// way. Reconnecting to them would fail again, so the pipeline is planned around them. (A stage that is not ready
    /// is restarted instead.)
    /// </summary>
    public static HashSet<string> UnreachableNodes(IReadOnlyList<PlacedStage> replica, IReadOnlyDictionary<string, string?> problems,
        IReadOnlyDictionary<string, PoolNode> nodes) =>
        replica.Where(s => s.Ready && s.Endpoint is { } e && problems.GetValueOrDefault(e) is not null && IsServing(s.Stage.NodeId, nodes))
            .Select(s => s.Stage.NodeId)
            .ToHashSet(StringComparer.Ordinal);

    private static int IndexOf(IReadOnlyList<PlacedStage> replica, string endpoint)
    {
        for (var i = 0; i < replica.Count; i++)
        {
            if (replica[i].Endpoint == endpoint)
                return i;
        }
        return -1;
    }

    private static bool IsServing(string nodeId, IReadOnlyDictionary<string, PoolNode> nodes) => nodes.TryGetValue(nodeId, out var node) && node.IsServing;
}
