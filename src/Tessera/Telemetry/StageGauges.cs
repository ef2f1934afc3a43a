using System.Globalization;
using Prometheus;
using Tessera.Pool.Membership;

namespace Tessera.Cli.Telemetry;

/// <summary>
/// Each deployment stage's figures as its agent sent them with its last heartbeat (<see cref="StageFigures"/>), by
/// deployment (its name), stage (its index) and node: forward passes and their time, positions computed, hidden states
/// received and sent, sessions and KV cache. Only stages of deployments the coordinator knows, on connected nodes, are
/// listed: what an agent reports cannot add series of its own making.
/// </summary>
internal sealed class StageGauges : IScrapeSource
{
    private static readonly string[] Labels = ["deployment", "stage", "node"];
    private readonly Func<IReadOnlyList<PoolNode>> _nodes;
    private readonly Func<IReadOnlyDictionary<string, string>> _deploymentNames;
    private readonly (IScrapedSeries Series, Func<StageFigures, double> Read)[] _figures;

    public StageGauges(Func<IReadOnlyList<PoolNode>> nodes, Func<IReadOnlyDictionary<string, string>> deploymentNames, IMetricFactory factory)
    {
        _nodes = nodes;
        _deploymentNames = deploymentNames;
        (IScrapedSeries, Func<StageFigures, double>) Counter(string name, string help, Func<StageFigures, double> read) =>
            (ScrapedSeries.Of(factory.CreateCounter(name, help, Labels)), read);
        (IScrapedSeries, Func<StageFigures, double>) Gauge(string name, string help, Func<StageFigures, double> read) =>
            (ScrapedSeries.Of(factory.CreateGauge(name, help, Labels)), read);
        _figures =
        [
            Counter("tessera_stage_forward_passes_total", "Forward passes a stage ran (each over a batch of sessions)", f => f.ForwardPasses),
            Counter("tessera_stage_forward_seconds_total", "Time a stage spent in forward passes", f => f.ForwardSeconds),
            Counter("tessera_stage_positions_total", "Positions (tokens) a stage's forward passes computed", f => f.Positions),
            Counter("tessera_stage_activations_received_bytes_total", "Bytes of hidden states a stage received from the stage before it", f => f.ActivationBytesReceived),
            Counter("tessera_stage_activations_sent_bytes_total", "Bytes of hidden states a stage sent to the stage after it", f => f.ActivationBytesSent),
            Gauge("tessera_stage_sessions", "Sessions holding a KV cache on a stage now", f => f.Sessions),
            Gauge("tessera_stage_kv_cache_positions", "Positions a stage's KV caches hold now", f => f.KvPositions),
            Gauge("tessera_stage_kv_cache_capacity_positions", "The most positions a stage's KV caches may hold (its sessions at once times the context)", f => f.KvCapacityPositions),
            Gauge("tessera_stage_kv_cache_bytes", "Bytes of a stage's KV caches now", f => f.KvBytes),
        ];
    }

    public void Collect()
    {
        var names = _deploymentNames();
        // A stage moving to other layers or another device of its node runs beside its replacement for a moment: their
        // figures add up under the one series of that deployment, stage and node.
        var stages = new Dictionary<(string Deployment, int Stage, string Node), List<StageFigures>>();
        foreach (var node in _nodes())
        {
            if (!node.Connected)
                continue;
            foreach (var figures in node.Stages)
            {
                if (!names.TryGetValue(figures.DeploymentId, out var name))
                    continue;
                var key = (name, figures.StageIndex, node.Name);
                if (!stages.TryGetValue(key, out var list))
                    stages[key] = list = [];
                list.Add(figures);
            }
        }
        foreach (var ((deployment, index, node), figures) in stages)
        {
            string[] labels = [deployment, index.ToString(CultureInfo.InvariantCulture), node];
            foreach (var (series, read) in _figures)
                series.Set(figures.Sum(read), labels);
        }
        foreach (var (series, _) in _figures)
            series.EndRound();
    }
}
