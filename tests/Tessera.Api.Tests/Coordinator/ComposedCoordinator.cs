using Microsoft.Extensions.Logging.Abstractions;
using Tessera.Api.Tests.Unit;
using Tessera.Cli.Hosting;
using Tessera.Deploy;
using Tessera.Pool;
using Tessera.Pool.Coordinator;

namespace Tessera.Api.Tests.Coordinator;

/// <summary>The coordinator as `pool start` composes it, in a temporary data directory, with a scripted model at /v1.</summary>
internal sealed class ComposedCoordinator : IAsyncDisposable
{
    private ComposedCoordinator(DirectoryInfo directory, PoolCoordinator coordinator)
    {
        Directory = directory;
        Coordinator = coordinator;
    }

    public DirectoryInfo Directory { get; }

    public PoolDataDirectory Data => new(Directory.FullName);

    public PoolCoordinator Coordinator { get; }

    public static async Task<ComposedCoordinator> StartAsync()
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("tessera-coordinator-");
        var coordinator = await PoolCoordinator.StartAsync(new CoordinatorOptions
        {
            DataDirectory = new PoolDataDirectory(directory.FullName),
            Listen = "127.0.0.1:0",
        }, DeploymentControllerOptions.Default, NullLoggerFactory.Instance, TimeProvider.System, CancellationToken.None, generation: new FakeGenerationService());
        return new ComposedCoordinator(directory, coordinator);
    }

    /// <summary>A client of the coordinator's port. The certificate is the pool CA's; these tests check the API, not TLS trust.</summary>
    public HttpClient Http()
    {
        var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        return new HttpClient(handler) { BaseAddress = new Uri(Coordinator.Host.Info.ApiUrl.TrimEnd('/') + "/") };
    }

    public async ValueTask DisposeAsync()
    {
        await Coordinator.DisposeAsync();
        Directory.Delete(recursive: true);
    }
}
