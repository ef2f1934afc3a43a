using Tessera.Planner;

namespace Tessera.Deploy;

/// <summary>
/// The links of nodes nobody can dial, as a pipeline crosses them: every connection into such a node goes through the
/// coordinator's relay, so a hop between X and a relayed node N costs the link X–coordinator plus the relayed path
/// coordinator–N (measured by the coordinator through the relay), at the lower of their throughputs; a hop between two
/// relayed nodes is counted as both relayed paths. The planner's links are symmetric, so the relay is counted on
/// every hop touching N, also on one that N dials itself (which needs no relay): conservative, never optimistic.
/// A relayed node whose relayed path was not measured (or failed) keeps a prohibitive round trip. Pure.
/// </summary>
internal static class RelayedLinks
{
    /// <param name="links">The links as measured (a relayed node's link from the coordinator has failed).</param>
    /// <param name="relayed">Each relayed node, with the coordinator's measurement of it through the relay (null: none that succeeded).</param>
    /// <param name="coordinatorId">The id the coordinator's links are stored under.</param>
    /// <param name="unreachableRttMs">The round trip given to a link no pipeline can use.</param>
    public static IReadOnlyList<LinkInfo> Apply(IReadOnlyList<LinkInfo> links, IReadOnlyDictionary<string, LinkInfo?> relayed, string coordinatorId,
        double unreachableRttMs)
    {
        if (relayed.Count == 0)
            return links;
        var toCoordinator = new Dictionary<string, LinkInfo>(StringComparer.Ordinal);
        foreach (var link in links)
        {
            if (link.NodeA == coordinatorId)
                toCoordinator[link.NodeB] = link;
            else if (link.NodeB == coordinatorId)
                toCoordinator[link.NodeA] = link;
        }
        var result = new List<LinkInfo>(links.Count);
        foreach (var link in links)
        {
            // What was measured to or from a relayed node directly is not what a pipeline crosses: replaced below.
            if (!relayed.ContainsKey(link.NodeA) && !relayed.ContainsKey(link.NodeB))
                result.Add(link);
        }
        var relayedNodes = relayed.Keys.Order(StringComparer.Ordinal).ToList();
        for (var i = 0; i < relayedNodes.Count; i++)
        {
            var far = relayedNodes[i];
            var leg = relayed[far];
            result.Add(leg is null ? new LinkInfo(coordinatorId, far, unreachableRttMs, 0, 0) : leg with { NodeA = coordinatorId, NodeB = far });
            foreach (var (near, first) in toCoordinator)
            {
                if (!relayed.ContainsKey(near) && near != coordinatorId)
                    result.Add(Via(near, far, first, leg, unreachableRttMs));
            }
            for (var j = 0; j < i; j++)
                result.Add(Via(relayedNodes[j], far, relayed[relayedNodes[j]], leg, unreachableRttMs));
        }
        return result;
    }

    /// <summary>The hop near -> coordinator -> far: the sum of the round trips, the lower throughput.</summary>
    private static LinkInfo Via(string near, string far, LinkInfo? first, LinkInfo? leg, double unreachableRttMs) =>
        first is null || leg is null || first.RttMs >= unreachableRttMs || leg.RttMs >= unreachableRttMs
            ? new LinkInfo(near, far, unreachableRttMs, 0, 0)
            : new LinkInfo(near, far, first.RttMs + leg.RttMs, 0, Slower(first.BandwidthBytesPerSecond, leg.BandwidthBytesPerSecond));

    /// <summary>The lower of two throughputs, where 0 means "not measured" (the planner then counts no transfer time).</summary>
    private static double Slower(double a, double b) => a <= 0 ? b : b <= 0 ? a : Math.Min(a, b);
}
