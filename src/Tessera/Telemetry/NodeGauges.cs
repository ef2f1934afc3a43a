using Prometheus;
using Tessera.Pool.Membership;

namespace Tessera.Cli.Telemetry;

/// <summary>
/// The pool's membership at each scrape: how many nodes are in each state, each node's state (one series per state,
/// 1 for the one it is in) and the age of its last heartbeat. Nodes that left are not listed.
/// </summary>
internal sealed class NodeGauges(Func<IReadOnlyList<PoolNode>> nodes, TimeProvider time, IMetricFactory factory) : IScrapeSource
{
    private static readonly NodeState[] Listed = [.. Enum.GetValues<NodeState>().Where(s => s != NodeState.Left)];

    private readonly ScrapedSeries<Gauge.Child> _count = ScrapedSeries.Of(factory.CreateGauge("tessera_nodes",
        "Nodes in each state (joining, ready, suspect, down, draining, left)", ["state"]));

    private readonly ScrapedSeries<Gauge.Child> _state = ScrapedSeries.Of(factory.CreateGauge("tessera_node_state",
        "1 for the state a node is in, 0 for the others (nodes that left are not listed)", ["node", "state"]));

    private readonly ScrapedSeries<Gauge.Child> _heartbeatAge = ScrapedSeries.Of(factory.CreateGauge("tessera_node_heartbeat_age_seconds",
        "Seconds since a node's last heartbeat reached the coordinator", ["node"]));

    public void Collect()
    {
        var now = time.GetUtcNow();
        var counts = Enum.GetValues<NodeState>().ToDictionary(s => s, _ => 0);
        foreach (var node in nodes())
        {
            counts[node.State]++;
            if (node.State == NodeState.Left)
                continue;
            foreach (var state in Listed)
                _state.Set(node.State == state ? 1 : 0, node.Name, state.ToWire());
            if (node.LastHeartbeat is { } last)
                _heartbeatAge.Set(Math.Max(0, (now - last).TotalSeconds), node.Name);
        }
        foreach (var (state, count) in counts)
            _count.Set(count, state.ToWire());
        _count.EndRound();
        _state.EndRound();
        _heartbeatAge.EndRound();
    }
}
