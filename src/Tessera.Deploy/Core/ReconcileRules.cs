using Tessera.Pool.Membership;

namespace Tessera.Deploy;

/// <summary>What the reconcile loop does to a stage.</summary>
internal enum StageAction
{
    None,

    /// <summary>Its node is not serving: the stage waits (and its pipeline is broken).</summary>
    Wait,

    /// <summary>(Re)send its start command: never sent, its node came back, or the last one went unanswered too long.</summary>
    Send,
}

/// <summary>The reconcile loop's decisions for one deployment, from its stages and the node snapshot. Pure.</summary>
internal static class ReconcileRules
{
    /// <summary>How long a started stage may stay silent before its start command is sent again.</summary>
    public static readonly TimeSpan ResendAfter = TimeSpan.FromSeconds(20);

    public static StageAction ForStage(string state, DateTimeOffset? lastSent, PoolNode? node, DateTimeOffset now)
    {
        if (node is not { IsServing: true })
            return state == StageStates.Waiting ? StageAction.None : StageAction.Wait;
        var stale = lastSent is null || now - lastSent > ResendAfter;
        return state is StageStates.Pending or StageStates.Waiting || (state == StageStates.Starting && stale) ? StageAction.Send : StageAction.None;
    }

    /// <summary>The drained nodes that still serve stages of the deployment: its stages move off them.</summary>
    public static HashSet<string> DrainedNodes(IEnumerable<StoredStage> stages, IReadOnlyDictionary<string, PoolNode> nodes) =>
        stages.Where(s => nodes.TryGetValue(s.NodeId, out var n) && n.Drained && n.Connected).Select(s => s.NodeId).ToHashSet(StringComparer.Ordinal);

    /// <summary>Nodes ready now (connected, ready, not drained), to tell joins and returns from one snapshot to the next.</summary>
    public static Dictionary<string, string> ReadyNodes(IEnumerable<PoolNode> nodes) =>
        nodes.Where(n => n.IsPlaceable).ToDictionary(n => n.Id, n => n.Name, StringComparer.Ordinal);
}
