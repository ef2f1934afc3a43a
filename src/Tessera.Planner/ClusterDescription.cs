namespace Tessera.Planner;

/// <summary>
/// A snapshot of the pool as the planner sees it: devices with their free memory and speed, which nodes may take
/// stages, and the links measured between nodes. The coordinator builds one from its state store; tests build one
/// by hand. Immutable; the planner never changes it.
/// </summary>
public sealed record ClusterDescription
{
    private readonly IReadOnlyList<LinkInfo> _links = [];
    private readonly Dictionary<(string, string), LinkInfo> _linkIndex = new();

    public required IReadOnlyList<DeviceInfo> Devices { get; init; }

    /// <summary>State of nodes that are not plainly usable; a node missing from the map is <see cref="NodeStatus.Usable"/>.</summary>
    public IReadOnlyDictionary<string, NodeStatus> NodeStates { get; init; } = new Dictionary<string, NodeStatus>();

    /// <summary>Measured links between nodes (either direction).</summary>
    public IReadOnlyList<LinkInfo> Links
    {
        get => _links;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            _links = value;
            _linkIndex = new Dictionary<(string, string), LinkInfo>();
            foreach (var link in value)
            {
                _linkIndex[Key(link.NodeA, link.NodeB)] = link; // the last measurement of a pair wins
            }
        }
    }

    /// <summary>The coordinator's node, when it runs an agent: the first stage is placed there when that costs nothing.</summary>
    public string? CoordinatorNodeId { get; init; }

    public NodeStatus StatusOf(string nodeId) => NodeStates.TryGetValue(nodeId, out var s) ? s : NodeStatus.Usable;

    public bool IsUsable(DeviceInfo device) => StatusOf(device.NodeId) == NodeStatus.Usable;

    /// <summary>The device with this id, or null.</summary>
    public DeviceInfo? FindDevice(string id)
    {
        foreach (var d in Devices)
        {
            if (string.Equals(d.Id, id, StringComparison.Ordinal))
                return d;
        }
        return null;
    }

    /// <summary>The measured link between two nodes, or null when none was measured (or both ids are one node).</summary>
    public LinkInfo? FindLink(string nodeA, string nodeB) =>
        _linkIndex.TryGetValue(Key(nodeA, nodeB), out var link) ? link : null;

    private static (string, string) Key(string a, string b) => string.CompareOrdinal(a, b) <= 0 ? (a, b) : (b, a);
}
