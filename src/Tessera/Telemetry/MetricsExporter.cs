using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Prometheus;

namespace Tessera.Cli.Telemetry;

/// <summary>Reads a snapshot of some state into gauges (and cumulative counters) before each scrape.</summary>
internal interface IScrapeSource
{
    void Collect();
}

/// <summary>
/// What a host (<c>tessera serve</c>, the coordinator of <c>tessera pool start</c>) serves at <c>/metrics</c>, in
/// Prometheus's text format: the libraries' instruments (<see cref="MeterBridge"/>: requests, tokens, latencies,
/// recoveries, re-plans), the state its <see cref="IScrapeSource"/>s read at each scrape (sessions and queue, nodes,
/// stages), and the process's own figures (CPU, memory, GC). Its registry is its own, so nothing else in the process
/// (prometheus-net's default registry) leaks into it.
/// </summary>
internal sealed class MetricsExporter : IDisposable
{
    /// <summary>Prometheus's text format, version 0.0.4.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly MeterBridge _bridge;
    private readonly List<IScrapeSource> _sources = [];
    private readonly SemaphoreSlim _scrape = new(1, 1);

    public MetricsExporter()
    {
        _bridge = new MeterBridge(_registry);
        DotNetStats.Register(_registry);
        Factory = Prometheus.Metrics.WithCustomRegistry(_registry);
    }

    /// <summary>Creates the metrics that sources set.</summary>
    public IMetricFactory Factory { get; }

    public MetricsExporter Add(IScrapeSource source)
    {
        lock (_sources)
            _sources.Add(source);
        return this;
    }

    /// <summary>Writes every metric to <paramref name="output"/>, after the sources have read their state (one scrape at a time).</summary>
    public async Task WriteAsync(Stream output, CancellationToken cancellation)
    {
        await _scrape.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            IScrapeSource[] sources;
            lock (_sources)
                sources = [.. _sources];
            foreach (var source in sources)
                source.Collect();
            await _registry.CollectAndExportAsTextAsync(output, cancellation).ConfigureAwait(false);
        }
        finally
        {
            _scrape.Release();
        }
    }

    /// <summary>Maps <c>GET /metrics</c>; the caller adds who may read it (an endpoint filter).</summary>
    public RouteHandlerBuilder Map(IEndpointRouteBuilder endpoints) =>
        endpoints.MapGet("/metrics", async (HttpContext http) =>
        {
            http.Response.ContentType = ContentType;
            http.Response.Headers.CacheControl = "no-store";
            await WriteAsync(http.Response.Body, http.RequestAborted).ConfigureAwait(false);
            return Results.Empty;
        });

    public void Dispose()
    {
        _bridge.Dispose();
        _scrape.Dispose();
    }
}
