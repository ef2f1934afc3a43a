namespace Tessera.Planner.Internal;

/// <summary>
/// Chooses which devices hold one pipeline, in which order, and hands each order to <see cref="SplitSolver"/>.
/// <para>
/// Complexity, for N usable devices, L layers and k stages: prefiltering sorts the devices twice, O(N log N), and
/// keeps the <see cref="PlannerOptions.CandidateDevices"/> fastest and the as many with the most memory (more when
/// the model needs more devices); nothing after that depends on N. For each stage count k from the fewest that can
/// hold the model to <see cref="PlannerOptions.ExtraStagesTried"/> more, and each speed threshold (at most
/// <see cref="MaxThresholds"/>), the k largest devices at least that fast form a set; each set is ordered from at
/// most <see cref="MaxStarts"/> starting nodes by cheapest next link and split in O(k x L^2). A pool of thousands of
/// devices plans in milliseconds; the cost is dominated by the split for large k.
/// </para>
/// </summary>
internal static class PlacementSearch
{
    public const int MaxThresholds = 16;
    public const int MaxStarts = 4;

    public sealed record Outcome(PipelinePlan Pipeline, int CandidatesConsidered);

    /// <summary>The best pipeline on <paramref name="eligible"/>, or null when none fits.</summary>
    /// <param name="exactStages">When set, only pipelines of exactly this many stages (for the alternatives of <c>--explain</c>).</param>
    /// <param name="extraStages">Stages tried beyond the fewest that hold the model; <see cref="PlannerOptions.ExtraStagesTried"/> when null.</param>
    public static Outcome? Search(CostModel cost, ClusterDescription cluster, IReadOnlyList<DeviceInfo> eligible, int replica, int? exactStages = null, int? extraStages = null)
    {
        if (eligible.Count == 0)
            return null;
        return SearchCandidates(cost, cluster, Prefilter(cost, eligible, cost.Options.CandidateDevices), replica, exactStages, extraStages);
    }

    /// <summary>As <see cref="Search"/> on the devices of <paramref name="index"/> not yet taken by other replicas.</summary>
    public static Outcome? Search(CostModel cost, ClusterDescription cluster, DeviceIndex index, int replica, int? exactStages = null, int? extraStages = null)
    {
        if (index.Remaining == 0)
            return null;
        return SearchCandidates(cost, cluster, index.Prefilter(cost, cost.Options.CandidateDevices), replica, exactStages, extraStages);
    }

    private static Outcome? SearchCandidates(CostModel cost, ClusterDescription cluster, List<DeviceInfo> candidates, int replica, int? exactStages, int? extraStages)
    {
        var options = cost.Options;
        var hops = new HopTable(cost, cluster, candidates);

        // Fewest stages that could hold the model: the largest devices first.
        var byCapacity = candidates.OrderByDescending(cost.Available).ThenBy(d => d.Id, StringComparer.Ordinal).ToArray();
        var kMin = 0;
        long cumulative = 0;
        while (kMin < byCapacity.Length)
        {
            cumulative += cost.Available(byCapacity[kMin]);
            kMin++;
            if (cumulative >= cost.TotalBytes(kMin))
                break;
        }
        if (cumulative < cost.TotalBytes(kMin))
            return null;
        kMin = Math.Max(kMin, Math.Min(Math.Min(cost.Request.MinStages, candidates.Count), cost.L));
        var kMax = Math.Min(Math.Min(kMin + (extraStages ?? options.ExtraStagesTried), candidates.Count), cost.L);
        if (exactStages is { } exact)
        {
            if (exact < kMin || exact > Math.Min(candidates.Count, cost.L))
                return null;
            kMin = kMax = exact;
        }

        var bySpeed = candidates.OrderByDescending(d => d.MemoryBandwidthGBps).ThenBy(d => d.Id, StringComparer.Ordinal).ToArray();
        var thresholds = Thresholds(bySpeed);
        PipelinePlan? best = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var k = kMin; k <= kMax; k++)
        {
            var foundForK = false;
            foreach (var set in Sets(hops, cluster, byCapacity, thresholds, k))
            {
                if (set.Length < k || set.Sum(cost.Available) < cost.TotalBytes(k))
                    continue;
                if (!seen.Add(string.Join('\n', set.Select(d => d.Id).Order(StringComparer.Ordinal))))
                    continue;
                foreach (var order in Orders(hops, cluster, set))
                {
                    var spans = SplitSolver.Solve(cost, order);
                    if (spans is null)
                        continue;
                    foundForK = true;
                    var pipeline = cost.Build(cluster, replica, order, spans);
                    if (best is null || CostModel.Compare(pipeline, best) < 0)
                        best = pipeline;
                }
            }
            // A larger k only helps when memory forced slow devices in; stop once a k finds nothing better.
            if (foundForK && best is not null && best.Stages.Count < k)
                break;
        }
        return best is null ? null : new Outcome(best, candidates.Count);
    }

    /// <summary>
    /// The sets of <paramref name="k"/> devices tried: for each speed threshold, the k largest devices at least that fast;
    /// and, when links were measured, sets grown from each of the <see cref="MaxStarts"/> largest devices by the cheapest
    /// link to the set so far (among devices at least as fast as the threshold), so that a slow or cut link between two
    /// equally good devices is left out rather than found only when the set is ordered.
    /// </summary>
    private static IEnumerable<DeviceInfo[]> Sets(HopTable hops, ClusterDescription cluster, DeviceInfo[] byCapacity, double[] thresholds, int k)
    {
        foreach (var tau in thresholds)
        {
            var fast = byCapacity.Where(d => d.MemoryBandwidthGBps >= tau).ToArray();
            yield return fast.Take(k).ToArray();
            if (cluster.Links.Count == 0 || fast.Length <= k)
                continue;
            // The cheapest link from the set so far to each device, kept up to date as the set grows (the minimum over
            // the set's members, as if recomputed, without the O(k) pass per device and step).
            var node = new int[fast.Length];
            for (var i = 0; i < fast.Length; i++)
                node[i] = hops.NodeOf(fast[i]);
            var joinCost = new double[fast.Length];
            var inSet = new bool[fast.Length];
            for (var start = 0; start < Math.Min(MaxStarts, fast.Length); start++)
            {
                Array.Fill(joinCost, double.PositiveInfinity);
                Array.Clear(inSet);
                var set = new List<DeviceInfo>(k);
                var member = start;
                while (true)
                {
                    set.Add(fast[member]);
                    inSet[member] = true;
                    if (set.Count >= k)
                        break;
                    var next = -1;
                    var nextCost = double.PositiveInfinity;
                    for (var i = 0; i < fast.Length; i++)
                    {
                        if (inSet[i])
                            continue;
                        var c = Math.Min(joinCost[i], hops.Seconds(node[member], node[i]));
                        joinCost[i] = c;
                        if (c < nextCost)
                            (next, nextCost) = (i, c);
                    }
                    if (next < 0)
                        break;
                    member = next;
                }
                yield return [.. set];
            }
        }
    }

    /// <summary>The devices that matter: the fastest, the largest, and enough of the largest to hold the model.</summary>
    internal static List<DeviceInfo> Prefilter(CostModel cost, IReadOnlyList<DeviceInfo> eligible, int keep)
    {
        if (eligible.Count <= 2 * keep)
            return eligible.OrderBy(d => d.Id, StringComparer.Ordinal).ToList();
        var chosen = new SortedDictionary<string, DeviceInfo>(StringComparer.Ordinal);
        foreach (var d in eligible.OrderByDescending(d => d.MemoryBandwidthGBps).ThenBy(d => d.Id, StringComparer.Ordinal).Take(keep))
            chosen[d.Id] = d;
        long cumulative = 0;
        var count = 0;
        foreach (var d in eligible.OrderByDescending(cost.Available).ThenByDescending(d => d.MemoryBandwidthGBps).ThenBy(d => d.Id, StringComparer.Ordinal))
        {
            // The largest devices, and past `keep` as many more as it takes to hold the model twice over.
            if (count >= keep && cumulative >= 2 * cost.TotalBytes(count))
                break;
            chosen[d.Id] = d;
            cumulative += cost.Available(d);
            count++;
        }
        return chosen.Values.ToList();
    }

    private static double[] Thresholds(DeviceInfo[] bySpeed)
    {
        var distinct = bySpeed.Select(d => d.MemoryBandwidthGBps).Distinct().ToArray(); // already descending
        if (distinct.Length <= MaxThresholds)
            return distinct;
        var picked = new double[MaxThresholds];
        for (var i = 0; i < MaxThresholds; i++)
            picked[i] = distinct[(int)((long)i * (distinct.Length - 1) / (MaxThresholds - 1))];
        return picked; // always includes the fastest and the slowest
    }

    /// <summary>
    /// Orders a set for a pipeline: devices of one node stay together (their link is free), nodes follow the cheapest
    /// next link from a start node. The start is the coordinator's node when the set has a device there, otherwise
    /// each of the first <see cref="MaxStarts"/> nodes by id is tried.
    /// </summary>
    private static IEnumerable<DeviceInfo[]> Orders(HopTable hops, ClusterDescription cluster, DeviceInfo[] set)
    {
        if (set.Length == 1)
        {
            yield return set;
            yield break;
        }
        var nodes = set.GroupBy(d => d.NodeId, StringComparer.Ordinal)
            .Select(g => (Node: g.Key, Devices: g.OrderByDescending(d => d.MemoryBandwidthGBps).ThenBy(d => d.Id, StringComparer.Ordinal).ToArray()))
            .OrderBy(n => n.Node, StringComparer.Ordinal)
            .ToArray();
        IEnumerable<int> starts = cluster.CoordinatorNodeId is { } coordinator && nodes.Any(n => n.Node == coordinator)
            ? [Array.FindIndex(nodes, n => n.Node == coordinator)]
            : Enumerable.Range(0, Math.Min(MaxStarts, nodes.Length));
        foreach (var start in starts)
        {
            var order = new List<DeviceInfo>(set.Length);
            var used = new bool[nodes.Length];
            var current = start;
            for (var step = 0; step < nodes.Length; step++)
            {
                used[current] = true;
                order.AddRange(nodes[current].Devices);
                var next = -1;
                var nextCost = double.PositiveInfinity;
                for (var i = 0; i < nodes.Length; i++)
                {
                    if (used[i])
                        continue;
                    var c = hops.Seconds(hops.NodeOf(nodes[current].Devices[0]), hops.NodeOf(nodes[i].Devices[0]));
                    if (c < nextCost)
                    {
                        nextCost = c;
                        next = i;
                    }
                }
                if (next < 0)
                    break;
                current = next;
            }
            yield return order.ToArray();
        }
    }
}
