namespace Tessera.Deploy;

/// <summary>A node the policy may ask to measure, or measure to.</summary>
/// <param name="Targetable">Whether peers can dial its probe (it advertises one, and the coordinator did not find it unreachable).</param>
internal sealed record ProbeNode(string Id, bool Targetable);

/// <summary>How much link measurement the pool spends, per round of <see cref="LinkProbePolicy.Choose"/>.</summary>
internal sealed record LinkProbeLimits
{
    public static LinkProbeLimits Default { get; } = new();

    /// <summary>Links a node measures in one round (each is a probe of about 0.3 s and <see cref="LinkMonitorOptions.PushBytes"/>).</summary>
    public int PerNodePerRound { get; init; } = 2;

    /// <summary>Times a node is measured by others in one round, so no node is swamped.</summary>
    public int IntoNodePerRound { get; init; } = 4;

    /// <summary>A link between neighbours of a running pipeline older than this is measured again.</summary>
    public TimeSpan NeighbourMaxAge { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Any other link older than this may be measured again when its turn in the rotation comes.</summary>
    public TimeSpan SampleMaxAge { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Peers a node with no measured link at all (one that just joined) is measured to at once.</summary>
    public int NewNodePeers { get; init; } = 2;
}

/// <summary>
/// Whom each node measures in one round. A pool of a thousand agents cannot measure every pair every minute (half a
/// million pairs), so a round picks, in this order: links between neighbours of running pipelines (stage to stage)
/// that are older than a minute; links of nodes with none measured yet; then a rotation that gives each node
/// <see cref="LinkProbeLimits.PerNodePerRound"/> peers at offsets that advance every round, so that every pair comes
/// up once every ceil((n - 1) / PerNodePerRound) rounds and is measured then if its last measurement is older than
/// <see cref="LinkProbeLimits.SampleMaxAge"/>. Each node measures at most PerNodePerRound links and is measured at most
/// <see cref="LinkProbeLimits.IntoNodePerRound"/> times a round. A link is measured from one end only (links are
/// symmetric to the planner), by the end that can dial the other. Pure: the same inputs give the same choice.
/// </summary>
internal static class LinkProbePolicy
{
    /// <param name="nodes">Connected nodes, in a stable order (the membership's: by join time).</param>
    /// <param name="neighbours">Pairs of nodes next to each other in a running pipeline.</param>
    /// <param name="measuredAt">When each pair was last measured, keyed by <see cref="Pair"/>.</param>
    /// <param name="round">The round's number: it advances the rotation.</param>
    /// <returns>For each node that measures this round, the peers it measures, in order.</returns>
    public static Dictionary<string, List<string>> Choose(IReadOnlyList<ProbeNode> nodes, IEnumerable<(string A, string B)> neighbours,
        IReadOnlyDictionary<(string, string), DateTimeOffset> measuredAt, DateTimeOffset now, long round, LinkProbeLimits limits)
    {
        var chosen = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        if (nodes.Count < 2)
            return chosen;
        var byId = nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
        var outgoing = new Dictionary<string, int>(StringComparer.Ordinal);
        var incoming = new Dictionary<string, int>(StringComparer.Ordinal);
        var taken = new HashSet<(string, string)>();

        bool Stale((string, string) pair, TimeSpan maxAge) => !measuredAt.TryGetValue(pair, out var at) || now - at >= maxAge;

        void Offer(string a, string b)
        {
            if (a == b || !byId.TryGetValue(a, out var na) || !byId.TryGetValue(b, out var nb))
                return;
            var pair = Pair(a, b);
            if (!taken.Add(pair))
                return;
            // The end with fewer probes so far measures, if it can dial the other.
            (ProbeNode From, ProbeNode To)[] ways = outgoing.GetValueOrDefault(a) <= outgoing.GetValueOrDefault(b) ? [(na, nb), (nb, na)] : [(nb, na), (na, nb)];
            foreach (var (from, to) in ways)
            {
                if (!to.Targetable || outgoing.GetValueOrDefault(from.Id) >= limits.PerNodePerRound || incoming.GetValueOrDefault(to.Id) >= limits.IntoNodePerRound)
                    continue;
                outgoing[from.Id] = outgoing.GetValueOrDefault(from.Id) + 1;
                incoming[to.Id] = incoming.GetValueOrDefault(to.Id) + 1;
                if (!chosen.TryGetValue(from.Id, out var list))
                    chosen[from.Id] = list = [];
                list.Add(to.Id);
                return;
            }
            taken.Remove(pair); // neither end could take it this round; another offer of the pair may
        }

        foreach (var (a, b) in neighbours.OrderBy(p => Pair(p.A, p.B)))
        {
            if (Stale(Pair(a, b), limits.NeighbourMaxAge))
                Offer(a, b);
        }

        var measuredNodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (a, b) in measuredAt.Keys)
        {
            measuredNodes.Add(a);
            measuredNodes.Add(b);
        }
        var n = nodes.Count;
        for (var i = 0; i < n; i++)
        {
            if (measuredNodes.Contains(nodes[i].Id))
                continue;
            for (var k = 1; k <= Math.Min(limits.NewNodePeers, n - 1); k++)
                Offer(nodes[i].Id, nodes[(i + k) % n].Id);
        }

        // The rotation: in round r, node i looks at the peers at offsets 1 + (r * P + j) mod (n - 1), j < P.
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < limits.PerNodePerRound; j++)
            {
                var offset = 1 + (int)(((round * limits.PerNodePerRound) + j) % (n - 1));
                var peer = nodes[(i + offset) % n];
                if (Stale(Pair(nodes[i].Id, peer.Id), limits.SampleMaxAge))
                    Offer(nodes[i].Id, peer.Id);
            }
        }
        return chosen;
    }

    /// <summary>The key of the link between <paramref name="a"/> and <paramref name="b"/>, whichever end measured it.</summary>
    public static (string, string) Pair(string a, string b) => string.CompareOrdinal(a, b) <= 0 ? (a, b) : (b, a);
}
