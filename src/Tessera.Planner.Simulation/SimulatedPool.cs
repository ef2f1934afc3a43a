using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>One machine of a simulated pool.</summary>
/// <param name="Index">Position in the pool: the order in which the machines were found (exo's ring follows it).</param>
/// <param name="Id">Node id, e.g. "n00042" (zero-padded so that ordinal order is discovery order).</param>
/// <param name="Machine">What it is.</param>
/// <param name="Site">Index of its site (a home, a lab rack, a cloud placement group).</param>
public sealed record SimulatedNode(int Index, string Id, MachineSpec Machine, int Site)
{
    public NodeClass Class => Machine.Class;
}

/// <summary>A place whose machines share a local network: a home, a lab rack, a cloud placement group.</summary>
/// <param name="Class">Home, lab or cloud.</param>
/// <param name="Inside">The link between two of its machines.</param>
/// <param name="Region">For cloud sites, the region (sites of one region are joined by the region's network).</param>
public sealed record SimulatedSite(NodeClass Class, LinkClass Inside, int Region);

/// <summary>
/// A drawn pool: machines, their devices as the planner sees them, the sites that decide their links. Immutable.
/// <see cref="LinkBetween"/> is the truth every system's pipelines are predicted with; <see cref="PlannerView"/> is
/// what Tessera's planner is given (every link inside a site and between the likeliest machines, the catalogue's
/// usual link for the rest).
/// </summary>
public sealed class SimulatedPool
{
    /// <summary>Machines ranked by their fastest and by their largest device whose links the planner view lists.</summary>
    public const int MeasuredProminentNodes = 128;

    private readonly Dictionary<string, int> _deviceIndex;
    private ClusterDescription? _plannerView;

    public SimulatedPool(PoolCatalog catalog, IReadOnlyList<SimulatedNode> nodes, IReadOnlyList<SimulatedSite> sites)
    {
        Catalog = catalog;
        Nodes = nodes;
        Sites = sites;
        var devices = new List<DeviceInfo>();
        var owners = new List<int>();
        foreach (var node in nodes)
        {
            var gpu = 0;
            foreach (var spec in node.Machine.Devices)
            {
                var id = spec.Kind == DeviceKind.Cpu ? node.Id + "/cpu" : node.Id + "/gpu" + gpu++.ToString(System.Globalization.CultureInfo.InvariantCulture);
                devices.Add(new DeviceInfo(id, node.Id, node.Id, spec.Kind, spec.MemoryBytes, spec.BandwidthGBps, spec.FlopsPerSecond));
                owners.Add(node.Index);
            }
        }
        Devices = devices;
        DeviceNode = owners.ToArray();
        NodeFirstDevice = new int[nodes.Count + 1];
        for (var i = devices.Count - 1; i >= 0; i--)
            NodeFirstDevice[DeviceNode[i]] = i;
        NodeFirstDevice[nodes.Count] = devices.Count;
        _deviceIndex = new Dictionary<string, int>(devices.Count, StringComparer.Ordinal);
        for (var i = 0; i < devices.Count; i++)
            _deviceIndex[devices[i].Id] = i;
        PlannerOptions = PlannerOptions.Default with { UnknownLink = PoolMixes.BackgroundLink(catalog).ToLinkInfo(LinkInfo.AnyNode, LinkInfo.AnyNode) };
    }

    public PoolCatalog Catalog { get; }

    public IReadOnlyList<SimulatedNode> Nodes { get; }

    public IReadOnlyList<SimulatedSite> Sites { get; }

    /// <summary>Every device of every machine, machine by machine.</summary>
    public IReadOnlyList<DeviceInfo> Devices { get; }

    /// <summary>For each device (same index as <see cref="Devices"/>), its machine's index.</summary>
    public int[] DeviceNode { get; }

    /// <summary>
    /// For each machine, the index of its first device; its devices run to the next machine's first (the array has one
    /// more entry, the device count, so that the last machine ends too). Every machine has at least one device.
    /// </summary>
    public int[] NodeFirstDevice { get; }

    /// <summary>The planner's options for this pool: defaults, with the catalogue's usual link for pairs not measured.</summary>
    public PlannerOptions PlannerOptions { get; }

    public int DeviceIndex(string deviceId) => _deviceIndex[deviceId];

    public SimulatedNode NodeOfDevice(string deviceId) => Nodes[DeviceNode[_deviceIndex[deviceId]]];

    /// <summary>The kind of link between two machines (never called for a machine and itself).</summary>
    public LinkClass LinkBetween(int nodeA, int nodeB)
    {
        var a = Sites[Nodes[nodeA].Site];
        var b = Sites[Nodes[nodeB].Site];
        if (Nodes[nodeA].Site == Nodes[nodeB].Site)
            return a.Inside;
        if (a.Class == NodeClass.Home || b.Class == NodeClass.Home)
            return LinkCatalog.HomeInternet;
        if (a.Class == NodeClass.Cloud && b.Class == NodeClass.Cloud && a.Region == b.Region)
            return LinkCatalog.CloudRegion;
        return LinkCatalog.Wan;
    }

    /// <summary>
    /// The pool as Tessera's planner is given it, every machine usable. Built once: the links inside every site, and
    /// between every two of the <see cref="MeasuredProminentNodes"/> fastest and largest machines (where plans land);
    /// other pairs get <see cref="PlannerOptions"/>' unknown link, the catalogue's usual one.
    /// </summary>
    public ClusterDescription PlannerView => _plannerView ??= BuildPlannerView();

    /// <summary>The planner view with <paramref name="nodeUp"/>'s false entries marked lost.</summary>
    public ClusterDescription PlannerViewWith(bool[] nodeUp)
    {
        var states = new Dictionary<string, NodeStatus>(StringComparer.Ordinal);
        for (var i = 0; i < nodeUp.Length; i++)
        {
            if (!nodeUp[i])
                states[Nodes[i].Id] = NodeStatus.Lost;
        }
        // `with` keeps the link index built once: only the states change.
        return PlannerView with { NodeStates = states };
    }

    private ClusterDescription BuildPlannerView()
    {
        var links = new List<LinkInfo>();
        var bySite = new Dictionary<int, List<int>>();
        foreach (var n in Nodes)
        {
            if (!bySite.TryGetValue(n.Site, out var members))
                bySite[n.Site] = members = [];
            members.Add(n.Index);
        }
        foreach (var members in bySite.Values)
            AddPairs(members, links);

        var prominent = new SortedSet<int>();
        foreach (var ranked in (Func<DeviceInfo, double>[])[d => d.MemoryBandwidthGBps, d => d.FreeMemoryBytes])
        {
            var best = new double[Nodes.Count];
            for (var i = 0; i < Devices.Count; i++)
                best[DeviceNode[i]] = Math.Max(best[DeviceNode[i]], ranked(Devices[i]));
            var order = Enumerable.Range(0, Nodes.Count).OrderByDescending(i => best[i]).ThenBy(i => i).Take(MeasuredProminentNodes);
            prominent.UnionWith(order);
        }
        var list = prominent.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            for (var j = i + 1; j < list.Count; j++)
            {
                if (Nodes[list[i]].Site != Nodes[list[j]].Site) // same-site pairs are listed already
                    links.Add(LinkBetween(list[i], list[j]).ToLinkInfo(Nodes[list[i]].Id, Nodes[list[j]].Id));
            }
        }
        return new ClusterDescription { Devices = Devices, Links = links };
    }

    private void AddPairs(List<int> members, List<LinkInfo> links)
    {
        for (var i = 0; i < members.Count; i++)
        {
            for (var j = i + 1; j < members.Count; j++)
                links.Add(LinkBetween(members[i], members[j]).ToLinkInfo(Nodes[members[i]].Id, Nodes[members[j]].Id));
        }
    }
}
