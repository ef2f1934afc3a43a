using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Tessera.Api;
using Tessera.Api.Keys;
using Tessera.Deploy;
using Tessera.Generation;
using Tessera.Pool.Coordinator;

namespace Tessera.Cli.Hosting;

/// <summary>
/// The coordinator of <c>tessera pool start</c>, composed here so that no library points the wrong way: the pool
/// (membership, tokens, /api), deployments (/api/deployments, /blobs), the keys of the OpenAI API (/api/keys) and /v1,
/// served by the deployments' router. One process, one port, one database file.
/// </summary>
internal sealed class PoolCoordinator : IAsyncDisposable
{
    private PoolCoordinator(CoordinatorHost host, DeploymentController deployments, ApiKeyStore keys)
    {
        Host = host;
        Deployments = deployments;
        Keys = keys;
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
        var host = await CoordinatorHost.StartAsync(options with
        {
            MapEndpoints = (app, pool) =>
            {
                keys = new ApiKeyStore(pool.Store.Database, time);
                deployments = CoordinatorDeployments.Create(pool, options.DataDirectory.Root, loggerFactory, time, deploymentOptions);
                DeploymentApi.Map(app, deployments, pool);
                ApiKeyEndpoints.Map(app.MapGroup("/api").WithTags("API keys").RequireAdminKey(pool), keys, pool.Store, time);
                app.MapOpenAiApi(generation ?? deployments.Router, keys, new OpenAiApiOptions
                {
                    Time = time,
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
        deployments!.Start();
        return new PoolCoordinator(host, deployments, keys!);
    }

    /// <summary>Stops the deployments' pipelines first, then the pool (its last heartbeats, its database).</summary>
    public async ValueTask DisposeAsync()
    {
        await Deployments.DisposeAsync().ConfigureAwait(false);
        await Host.DisposeAsync().ConfigureAwait(false);
    }
}
