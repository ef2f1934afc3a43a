using Microsoft.Extensions.Hosting;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// The coordinator's web host does not handle Ctrl+C or SIGTERM itself (ASP.NET's console
/// lifetime would swallow them): whoever hosts the coordinator (the CLI) owns the process's
/// lifetime and disposes the host.
/// </summary>
internal sealed class ExternalLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
