using Tessera.Engine.Backends;
using Tessera.Planner;
using Tessera.Pool.Membership;

namespace Tessera.Deploy;

/// <summary>The pool as the planner sees it, from a snapshot of its nodes. Pure.</summary>
internal static class PoolCluster
{
    /// <summary>Speed assumed for a CPU whose speed was not measured (GB/s).</summary>
    public const double UnmeasuredSpeedGBps = 5;

    /// <summary>The planner's id of a node's CPU device.</summary>
    public static string CpuDevice(string nodeId) => DeviceId(nodeId, ComputeDevices.Cpu);

    /// <summary>The planner's id of the device a node's agent calls <paramref name="device"/> ("cpu", "gpu0", ...): NODE/DEVICE.</summary>
    public static string DeviceId(string nodeId, string device) => nodeId + "/" + ComputeDevices.Local(device);

    /// <summary>The node of a planner device id, or null for the planner's placeholders (no '/').</summary>
    public static string? NodeOf(string deviceId)
    {
        var slash = deviceId.IndexOf('/', StringComparison.Ordinal);
        return slash <= 0 ? null : deviceId[..slash];
    }

    /// <summary>
    /// Every placeable node's devices: its CPU with its free RAM, and each GPU its agent measured with its free memory
    /// (see <see cref="GpuFree"/>), less what the stages of other deployments hold there (<paramref name="holdings"/>),
    /// in the snapshot's order. A GPU without a measured speed is left out: its agent's backend cannot open it. Nodes in
    /// <paramref name="left"/> are left out and reported to the planner with <paramref name="leftStatus"/>. The measured
    /// links and the coordinator's node come from <paramref name="links"/>. A device's speed is its entry in
    /// <paramref name="speeds"/> where it has one (learned from its stages' step times, see
    /// <see cref="ObservedSpeeds.Effective"/>), else what its agent measured (or declared). Where a pipeline showed how
    /// long a token spends on a link (<paramref name="hopLatencyMs"/>, see <see cref="ObservedHops"/>), that latency
    /// stands for the probe's RTT (see <see cref="WithObservedHops"/>).
    /// </summary>
    public static ClusterDescription Build(IReadOnlyList<PoolNode> nodes, DeviceHoldings holdings,
        IReadOnlySet<string>? left = null, NodeStatus leftStatus = NodeStatus.Lost, ILinkDirectory? links = null,
        IReadOnlyDictionary<string, double>? speeds = null, IReadOnlyDictionary<(string, string), double>? hopLatencyMs = null)
    {
        var devices = new List<DeviceInfo>();
        double Speed(string id, double probed) =>
            speeds is not null && speeds.TryGetValue(id, out var known) && known > 0 ? known : probed;
        foreach (var node in nodes)
        {
            if (!node.IsPlaceable || left?.Contains(node.Id) == true)
                continue;
            var cpu = CpuDevice(node.Id);
            var free = Math.Max(0, node.RamFreeBytes - holdings.Others.GetValueOrDefault(cpu));
            devices.Add(new DeviceInfo(cpu, node.Id, node.Name, DeviceKind.Cpu, free,
                Speed(cpu, node.CpuSpeedGBps > 0 ? node.CpuSpeedGBps : UnmeasuredSpeedGBps)));
            foreach (var gpu in node.Gpus.Where(g => g.SpeedGBps > 0))
            {
                var id = DeviceId(node.Id, gpu.Device);
                devices.Add(new DeviceInfo(id, node.Id, node.Name, DeviceKind.Gpu, GpuFree(gpu, id, holdings), Speed(id, gpu.SpeedGBps)));
            }
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
    /// What a deployment may use of a GPU. Unlike a CPU's free RAM (mapped weights stay reclaimable page cache), a GPU's
    /// free memory as nvidia-smi samples it already lacks what loaded stages hold, and lacks it only once they have
    /// loaded. So: the free memory plus every stage's holding there (at most the total: a stage not loaded yet is not
    /// in the sample), less the other deployments' holdings. What other programs use stays counted as used.
    /// </summary>
    internal static long GpuFree(PoolGpu gpu, string deviceId, DeviceHoldings holdings)
    {
        var ours = Math.Min(gpu.MemoryTotalBytes, gpu.MemoryFreeBytes + holdings.All.GetValueOrDefault(deviceId));
        return Math.Max(0, ours - holdings.Others.GetValueOrDefault(deviceId));
    }

    /// <summary>
    /// A user's placement as the planner's stages: each NODE (by id, or by name where one node has it) becomes its CPU
    /// device, and NODE/DEVICE (<c>agent-a/gpu0</c>) that device of the node.
    /// </summary>
    /// <exception cref="DeploymentException">Invalid: a node no node is, a name several nodes share, or a device the node does not have.</exception>
    public static List<StagePlacement> Placement(IReadOnlyList<PoolNode> nodes, IReadOnlyList<RequestedStage> placed)
    {
        var stages = new List<StagePlacement>(placed.Count);
        foreach (var p in placed)
        {
            var device = ComputeDevices.Cpu;
            var (node, byName) = Find(nodes, p.Node);
            if (node is null && p.Node.LastIndexOf('/') is > 0 and var slash)
            {
                device = ComputeDevices.Local(p.Node[(slash + 1)..]);
                (node, byName) = Find(nodes, p.Node[..slash]);
            }
            if (node is null)
            {
                throw new DeploymentException(DeploymentErrorKind.Invalid, byName > 1
                    ? $"{byName} nodes are named '{p.Node}': name the node by its id in the placement (see `tessera nodes`)."
                    : $"No node is named '{p.Node}': the placement must name nodes of the pool by name or id, and a GPU as NODE/gpu0 (see `tessera nodes`).");
            }
            if (!ComputeDevices.IsCpu(device) && !node.Gpus.Any(g => g.Device == device && g.SpeedGBps > 0))
            {
                var usable = node.Gpus.Where(g => g.SpeedGBps > 0).Select(g => g.Device).ToList();
                throw new DeploymentException(DeploymentErrorKind.Invalid,
                    $"Node {node.Name} has no usable device '{device}': it offers cpu{string.Concat(usable.Select(d => ", " + d))} (see `tessera nodes`).");
            }
            stages.Add(new StagePlacement(DeviceId(node.Id, device), new LayerSpan(p.FirstLayer, p.LastLayer)));
        }
        return stages;
    }

    /// <summary>The node <paramref name="node"/> names (by id, or by a name one node has), and how many nodes have that name.</summary>
    private static (PoolNode? Node, int ByName) Find(IReadOnlyList<PoolNode> nodes, string node)
    {
        var byId = nodes.FirstOrDefault(n => n.Id == node);
        var byName = nodes.Where(n => n.Name == node).ToList();
        return (byId ?? (byName.Count == 1 ? byName[0] : null), byName.Count);
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

    /// <summary>Each device's speed as its agent measured (or declared) it, GB/s, by device id; 0 when unmeasured.</summary>
    public static Dictionary<string, double> ProbedSpeeds(IReadOnlyList<PoolNode> nodes)
    {
        var speeds = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            speeds.TryAdd(CpuDevice(node.Id), Math.Max(0, node.CpuSpeedGBps));
            foreach (var gpu in node.Gpus)
                speeds.TryAdd(DeviceId(node.Id, gpu.Device), Math.Max(0, gpu.SpeedGBps));
        }
        return speeds;
    }

    /// <summary>Bytes the stages hold on each device (weights and KV caches), by device id.</summary>
    public static Dictionary<string, long> Reserved(IEnumerable<StoredStage> stages)
    {
        var reserved = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var stage in stages)
            reserved[stage.DeviceId] = reserved.GetValueOrDefault(stage.DeviceId) + stage.WeightBytes + stage.KvBytes;
        return reserved;
    }

    /// <summary>
    /// Every device id of <paramref name="nodeIds"/>: their CPUs, the GPUs the snapshot shows, and the devices
    /// <paramref name="stages"/> use there (a node gone from the snapshot keeps its stages' devices).
    /// </summary>
    public static List<string> DevicesOf(IEnumerable<string> nodeIds, IReadOnlyList<PoolNode> nodes, IEnumerable<StoredStage> stages)
    {
        var ids = new HashSet<string>(nodeIds, StringComparer.Ordinal);
        return ids.Select(CpuDevice)
            .Concat(nodes.Where(n => ids.Contains(n.Id)).SelectMany(n => n.Gpus.Select(g => DeviceId(n.Id, g.Device))))
            .Concat(stages.Where(s => ids.Contains(s.NodeId)).Select(s => s.DeviceId))
            .Distinct(StringComparer.Ordinal).ToList();
    }
}

/// <summary>
/// Bytes stages hold on each device (by device id): <see cref="Others"/>, those of the deployments other than the one
/// being planned; <see cref="All"/>, those of every deployment.
/// </summary>
internal sealed record DeviceHoldings(IReadOnlyDictionary<string, long> Others, IReadOnlyDictionary<string, long> All)
{
    public static DeviceHoldings None { get; } = new(new Dictionary<string, long>(), new Dictionary<string, long>());
}
