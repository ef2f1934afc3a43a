using Prometheus;
using Tessera.Generation;

namespace Tessera.Cli.Telemetry;

/// <summary>
/// A generation service's load per deployment (<see cref="IGenerationLoad"/>): sessions generating, sessions queued,
/// and, where the KV caches live in this process (<c>tessera serve</c>), the positions they hold and may hold.
/// </summary>
internal sealed class GenerationGauges : IScrapeSource
{
    private readonly IGenerationLoad _service;
    private readonly (IScrapedSeries Series, Func<ModelLoad, double?> Read)[] _figures;

    public GenerationGauges(IGenerationLoad service, IMetricFactory factory)
    {
        _service = service;
        (IScrapedSeries, Func<ModelLoad, double?>) Gauge(string name, string help, Func<ModelLoad, double?> read) =>
            (ScrapedSeries.Of(factory.CreateGauge(name, help, ["deployment"])), read);
        _figures =
        [
            Gauge("tessera_sessions_active", "Sessions generating now, by deployment (a pipeline's paused sessions included)", l => l.ActiveSessions),
            Gauge("tessera_sessions_queued", "Requests waiting for a session slot (the queue depth), by deployment", l => l.QueuedSessions),
            Gauge("tessera_kv_cache_positions", "Positions held in the KV caches of a model served in this process, by deployment (a pipeline's are its stages')",
                l => l.KvCachePositions),
            Gauge("tessera_kv_cache_capacity_positions", "The most positions those KV caches may hold (sessions at once times the context), by deployment",
                l => l.KvCacheCapacityPositions),
        ];
    }

    public void Collect()
    {
        foreach (var load in _service.Load())
        {
            foreach (var (series, read) in _figures)
            {
                if (read(load) is { } value)
                    series.Set(value, load.Model);
            }
        }
        foreach (var (series, _) in _figures)
            series.EndRound();
    }
}
