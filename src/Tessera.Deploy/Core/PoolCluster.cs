using Tessera.Planner;
using Tessera.Pool.Membership;

namespace Tessera.Deploy;

/// <summary>The pool as the planner sees it, from a snapshot of its nodes. Pure.</summary>
internal static class PoolCluster
{
    /// <summary>Speed assumed for a CPU whose speed was not measured (GB/s).</summary>
    public const double UnmeasuredSpeedGBps = 5;

    /// <summary>The planner's id of a node's CPU device.</summary>
    public static string CpuDevice(string nodeId) => nodeId + "/cpu";

    /// <summary>The node of a planner device id, or null for the planner's placeholders (no '/').</summary>
    public static string? NodeOf(string deviceId)
    {
        var slash = deviceId.IndexOf('/', StringComparison.Ordinal);
        return slash <= 0 ? null : deviceId[..slash];
    }

    /// <summary>
    /// Each placeable node's CPU with its free RAM less <paramref name="reserved"/> (what other deployments' stages hold
    /// there), in the snapshot's order. Nodes in <paramref name="left"/> are left out and reported to the planner with
    /// <paramref name="leftStatus"/>. The measured links and the coordinator's node come from <paramref name="links"/>.
    /// A node's speed is its entry in <paramref name="speeds"/> where it has one (learned from its stages' step times, see
    /// <see cref="ObservedSpeeds.Effective"/>), else what its agent measured (or declared). Where a pipeline showed how
    /// long a token spends on a link (<paramref name="hopLatencyMs"/>, see <see cref="ObservedHops"/>), that latency
    /// stands for the probe's RTT (see <see cref="WithObservedHops"/>).
    /// </summary>
    public static ClusterDescription Build(IReadOnlyList<PoolNode> nodes, IReadOnlyDictionary<string, long> reserved,
        IReadOnlySet<string>? left = null, NodeStatus leftStatus = NodeStatus.Lost, ILinkDirectory? links = null,
        IReadOnlyDictionary<string, double>? speeds = null, IReadOnlyDictionary<(string, string), double>? hopLatencyMs = null)
    {
        var devices = new List<DeviceInfo>();
        foreach (var node in nodes)
        {
            if (!node.IsPlaceable || left?.Contains(node.Id) == true)
                continue;
            var free = Math.Max(0, node.RamFreeBytes - reserved.GetValueOrDefault(node.Id));
            var speed = speeds is not null && speeds.TryGetValue(node.Id, out var known) && known > 0 ? known
                : node.CpuSpeedGBps > 0 ? node.CpuSpeedGBps : UnmeasuredSpeedGBps;
            devices.Add(new DeviceInfo(CpuDevice(node.Id), node.Id, node.Name, DeviceKind.Cpu, free, speed));
        }
        return new ClusterDescription
        {
            Devices = devices,
            NodeStates = left?.ToDictionary(id => id, _ => leftStatus, StringComparer.Ordinal) ?? new Dictionary<string, NodeStatus>(),
            Links = WithObservedHops(links?.Snapshot() ?? [], hopLatencyMs),
            CoordinatorNodeId = links?.CoordinatorNodeId,
        };
    }

    /// <summary>
    /// A user's placement as the planner's stages: each node named by id, or by name where one node has it, becomes
    /// its CPU device.
    /// </summary>
    /// <exception cref="DeploymentException">Invalid: a node no node is, or a name several nodes share.</exception>
    public static List<StagePlacement> Placement(IReadOnlyList<PoolNode> nodes, IReadOnlyList<RequestedStage> placed)
    {
        var stages = new List<StagePlacement>(placed.Count);
        foreach (var p in placed)
        {
            var byId = nodes.FirstOrDefault(n => n.Id == p.Node);
            var byName = nodes.Where(n => n.Name == p.Node).ToList();
            var node = byId ?? (byName.Count == 1 ? byName[0] : null);
            if (node is null)
            {
                throw new DeploymentException(DeploymentErrorKind.Invalid, byName.Count > 1
                    ? $"{byName.Count} nodes are named '{p.Node}': name the node by its id in the placement (see `tessera nodes`)."
                    : $"No node is named '{p.Node}': the placement must name nodes of the pool by name or id (see `tessera nodes`).");
            }
            stages.Add(new StagePlacement(CpuDevice(node.Id), new LayerSpan(p.FirstLayer, p.LastLayer)));
        }
        return stages;
    }

    /// <summary>
    /// <paramref name="links"/> with each observed link's RTT replaced by its observed latency less its jitter (links
    /// observed but never measured are added with that latency, no jitter and no bandwidth: the transfer is in it). The
    /// other measured links' RTTs are moved by the (upper) median difference between that figure and the probe's RTT
    /// over the links that have both: without it, a link a pipeline used would look cheaper or dearer than an equal one
    /// it did not, and plans would keep to the links they already had or flee them. A difference, not a ratio: what a
    /// token's hop adds to the probe's echo is the transport's own work (framing, wake-ups, the token relayed back),
    /// about the same on every link, so on loopback (probe 0.1 ms, hops seen at 5 ms) a ratio of 50 turned a probe's
    /// 0.1 ms of noise into 5 ms and kept a slow node's stage on the one link seen. Unreachable links stay as they are.
    /// </summary>
    internal static IReadOnlyList<LinkInfo> WithObservedHops(IReadOnlyList<LinkInfo> links, IReadOnlyDictionary<(string, string), double>? hopLatencyMs)
    {
        if (hopLatencyMs is null || hopLatencyMs.Count == 0)
            return links;
        static bool Probed(LinkInfo link) => link.RttMs > 0 && link.RttMs < LinkMonitor.UnreachableRttMs;
        double Seen(LinkInfo link, double latency) => Math.Max(0, latency - Math.Max(0, link.JitterP99Ms));
        var differences = links.Where(Probed)
            .Select(l => hopLatencyMs.TryGetValue(ObservedHops.Key(l.NodeA, l.NodeB), out var latency) ? Seen(l, latency) - l.RttMs : (double?)null)
            .OfType<double>().Order().ToList();
        var shift = differences.Count == 0 ? 0 : differences[differences.Count / 2];
        var result = new List<LinkInfo>(links.Count + hopLatencyMs.Count);
        var seen = new HashSet<(string, string)>();
        foreach (var link in links)
        {
            var key = ObservedHops.Key(link.NodeA, link.NodeB);
            if (hopLatencyMs.TryGetValue(key, out var latency))
            {
                result.Add(link with { RttMs = Seen(link, latency) });
                seen.Add(key);
            }
            else
            {
                result.Add(Probed(link) ? link with { RttMs = Math.Max(0, link.RttMs + shift) } : link);
            }
        }
        foreach (var ((a, b), latency) in hopLatencyMs)
        {
            if (!seen.Contains((a, b)))
                result.Add(new LinkInfo(a, b, latency, 0, 0));
        }
        return result;
    }

    /// <summary>Each node's speed as its agent measured (or declared) it, GB/s; 0 when unmeasured.</summary>
    public static Dictionary<string, double> ProbedSpeeds(IReadOnlyList<PoolNode> nodes) =>
        nodes.GroupBy(n => n.Id, StringComparer.Ordinal).ToDictionary(g => g.Key, g => Math.Max(0, g.First().CpuSpeedGBps), StringComparer.Ordinal);

    /// <summary>Bytes the stages hold on each node (weights and KV caches).</summary>
    public static Dictionary<string, long> Reserved(IEnumerable<StoredStage> stages)
    {
        var reserved = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var stage in stages)
            reserved[stage.NodeId] = reserved.GetValueOrDefault(stage.NodeId) + stage.WeightBytes + stage.KvBytes;
        return reserved;
    }
}
