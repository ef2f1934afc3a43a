namespace Tessera.Planner.Internal;

/// <summary>
/// Hop costs between the nodes of one search's candidates, each looked up once: the search asks for the same pairs
/// thousands of times (growing sets, ordering them), and each lookup through <see cref="PlannerOptions.LinkBetween"/>
/// hashes two node ids.
/// </summary>
internal sealed class HopTable
{
    private readonly CostModel _cost;
    private readonly ClusterDescription _cluster;
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly List<string> _nodes = [];
    private readonly double[] _seconds;

    public HopTable(CostModel cost, ClusterDescription cluster, IReadOnlyList<DeviceInfo> devices)
    {
        _cost = cost;
        _cluster = cluster;
        foreach (var d in devices)
        {
            if (_index.TryAdd(d.NodeId, _nodes.Count))
                _nodes.Add(d.NodeId);
        }
        _seconds = new double[_nodes.Count * _nodes.Count];
        Array.Fill(_seconds, double.NaN); // not looked up yet
    }

    /// <summary>The index of <paramref name="device"/>'s node; the device must be one of the table's.</summary>
    public int NodeOf(DeviceInfo device) => _index[device.NodeId];

    /// <summary>Seconds a token's activation takes between the nodes at <paramref name="a"/> and <paramref name="b"/>.</summary>
    public double Seconds(int a, int b)
    {
        var i = a * _nodes.Count + b;
        var s = _seconds[i];
        if (double.IsNaN(s))
        {
            s = _cost.Options.HopCost.HopSeconds(_cost.Options.LinkBetween(_cluster, _nodes[a], _nodes[b]), _cost.ActivationBytes);
            _seconds[i] = s;
        }
        return s;
    }
}
