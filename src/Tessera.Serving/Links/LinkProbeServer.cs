using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tessera.Serving;

/// <summary>
/// A node's link probe: serves <see cref="LinkProbeService"/> over the stage transport, with mutual TLS under the pool
/// CA (or h2c on loopback, for tests). Agents run one from their start, so a link can be measured, and a node found
/// unreachable, before any stage runs there.
/// </summary>
public sealed class LinkProbeServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LinkProbeServer(WebApplication app, IPEndPoint endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    /// <summary>The address it listens on, with the port chosen when 0 was asked for.</summary>
    public IPEndPoint Endpoint { get; }

    /// <param name="listen">Address and port (0: any free port).</param>
    /// <param name="tls">The node's certificates; null serves h2c, allowed on a loopback address only.</param>
    public static async Task<LinkProbeServer> StartAsync(IPEndPoint listen, StageTls? tls, ILoggerFactory? loggerFactory = null, CancellationToken cancellation = default)
    {
        if (tls is null && !IPAddress.IsLoopback(listen.Address))
            throw new ArgumentException($"A link probe without TLS may only listen on a loopback address, not {listen.Address}.");
        var app = StageKestrel.CreateBuilder(listen, tls, loggerFactory ?? NullLoggerFactory.Instance).Build();
        app.MapGrpcService<LinkProbeService>();
        var endpoint = await StageKestrel.StartAsync(app, listen, cancellation).ConfigureAwait(false);
        return new LinkProbeServer(app, endpoint);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _app.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
