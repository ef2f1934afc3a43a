using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Tessera.Api;
using Tessera.Api.Keys;
using Tessera.Cli.Telemetry;
using Tessera.Deploy;
using Tessera.Generation;
using Tessera.Pool.Coordinator;

namespace Tessera.Cli.Hosting;

/// <summary>
/// The coordinator of <c>tessera pool start</c>, composed here so that no library points the wrong way: the pool
/// (membership, tokens, /api), deployments (/api/deployments, /blobs), the keys of the OpenAI API (/api/keys), /v1,
/// served by the deployments' router, and /metrics. One process, one port, one database file.
/// </summary>
internal sealed class PoolCoordinator : IAsyncDisposable
{
    private readonly MetricsExporter _metrics;

    private PoolCoordinator(CoordinatorHost host, DeploymentController deployments, ApiKeyStore keys, MetricsExporter metrics)
    {
        Host = host;
        Deployments = deployments;
        Keys = keys;
        _metrics = metrics;
    }

    public CoordinatorHost Host { get; }

    public DeploymentController Deployments { get; }

    public ApiKeyStore Keys { get; }

    /// <summary>
    /// Starts the coordinator and its deployments' reconcile loop. <paramref name="generation"/> replaces the
    /// deployments' router at /v1 (tests serve a scripted model there).
    /// </summary>
    public static async Task<PoolCoordinator> StartAsync(CoordinatorOptions options, DeploymentControllerOptions deploymentOptions,
        ILoggerFactory loggerFactory, TimeProvider time, CancellationToken cancellationToken, ITextGenerationService? generation = null)
    {
        DeploymentController? deployments = null;
        ApiKeyStore? keys = null;
        var metrics = new MetricsExporter();
        CoordinatorHost host;
        try
        {
            host = await CoordinatorHost.StartAsync(options with
            {
                MapEndpoints = (app, pool) =>
                {
                    keys = new ApiKeyStore(pool.Store.Database, time);
                    deployments = CoordinatorDeployments.Create(pool, options.DataDirectory.Root, loggerFactory, time, deploymentOptions);
                    DeploymentApi.Map(app, deployments, pool);
                    ApiKeyEndpoints.Map(app.MapGroup("/api").WithTags("API keys").RequireAdminKey(pool), keys, pool.Store, time);
                    var served = generation ?? deployments.Router;
                    var controller = deployments;
                    if (served is IGenerationLoad load)
                        metrics.Add(new GenerationGauges(load, metrics.Factory));
                    metrics.Add(new NodeGauges(pool.Membership.Snapshot, time, metrics.Factory))
                        .Add(new StageGauges(pool.Membership.Snapshot, () => controller.List().ToDictionary(d => d.Id, d => d.Name, StringComparer.Ordinal), metrics.Factory));
                    // Made here, in the data directory the host has created and locked.
                    metrics.Map(app).AddEndpointFilter(new ScrapeKeyFilter(pool, ScrapeKeyFilter.EnsureKey(options.DataDirectory.MetricsKey)));
                    var serving = new ServingLive(served);
                    DashboardServingEndpoints.Map(app, pool, serving);
                    app.MapOpenAiApi(serving, keys, new OpenAiApiOptions
                    {
                        Time = time,
                        TokenDecoder = served as ITokenDecoder,
                        // Lines go through the router, which spreads them over a deployment's replicas: more at once than one server.
                        Batches = new Tessera.Api.Batches.BatchOptions
                        {
                            Directory = Path.Combine(options.DataDirectory.Root, "batches"),
                            Files = new ContentStoreBatchFiles(deployments.Content), // beside the models, held so the model cache's eviction spares them
                            MaxConcurrentLines = 8,
                        },
                    });
                },
            }, loggerFactory, time, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            metrics.Dispose();
            throw;
        }
        deployments!.Start();
        return new PoolCoordinator(host, deployments, keys!, metrics);
    }

    /// <summary>Stops the deployments' pipelines first, then the pool (its last heartbeats, its database).</summary>
    public async ValueTask DisposeAsync()
    {
        await Deployments.DisposeAsync().ConfigureAwait(false);
        await Host.DisposeAsync().ConfigureAwait(false);
        _metrics.Dispose();
    }
}
