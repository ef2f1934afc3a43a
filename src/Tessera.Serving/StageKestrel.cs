using System.Net;
using System.Net.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Tessera.Serving;

/// <summary>
/// The web host every data-plane server of a node uses (stage servers, the link probe): HTTP/2 only, mutual TLS with
/// the pool's certificates (or h2c on loopback), windows sized for activations, and gRPC with the stage message bound.
/// </summary>
internal static class StageKestrel
{
    /// <summary>A slim web application builder listening on <paramref name="listen"/>, with gRPC added.</summary>
    public static WebApplicationBuilder CreateBuilder(IPEndPoint listen, StageTls? tls, ILoggerFactory loggerFactory)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        // A lane's messages are small and every one is on a token's critical path: run the gRPC handler's read
        // continuations on the socket's own thread instead of queueing them to the thread pool (a hand-off per message).
        // Safe because the stage handlers never block: they queue work under a short lock and return.
        builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = true);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(5);
            kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(10);
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1000;
            kestrel.Limits.Http2.InitialConnectionWindowSize = 16 * 1024 * 1024;
            kestrel.Limits.Http2.InitialStreamWindowSize = 8 * 1024 * 1024;
            kestrel.Listen(listen, endpoint =>
            {
                endpoint.Protocols = HttpProtocols.Http2;
                if (tls is not null)
                {
                    // Node certificates are issued for client authentication; Kestrel refuses such a certificate as a
                    // ServerCertificate, so the TLS options are handed to SslStream directly. Both ends check the
                    // other's certificate against the pool CA (StageTls.Check).
                    endpoint.UseHttps(new TlsHandshakeCallbackOptions
                    {
                        OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
                        {
                            ServerCertificateContext = SslStreamCertificateContext.Create(tls.Certificate, additionalCertificates: null),
                            ClientCertificateRequired = true,
                            CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                            RemoteCertificateValidationCallback = (_, certificate, _, _) => tls.Check(certificate) is null,
                            ApplicationProtocols = [SslApplicationProtocol.Http2],
                        }),
                    });
                }
            });
        });
        builder.Services.AddGrpc(grpc =>
        {
            grpc.EnableDetailedErrors = false;
            grpc.MaxReceiveMessageSize = StageChannels.MaxMessageBytes;
            grpc.MaxSendMessageSize = StageChannels.MaxMessageBytes;
        });
        return builder;
    }

    /// <summary>Starts <paramref name="app"/>; returns the endpoint it listens on, with the port chosen when 0 was asked for.</summary>
    public static async Task<IPEndPoint> StartAsync(WebApplication app, IPEndPoint listen, CancellationToken cancellation)
    {
        try
        {
            await app.StartAsync(cancellation).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"Cannot listen on {listen}: {e.Message}", e);
        }
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        var port = addresses?.Select(a => new Uri(a.Replace("0.0.0.0", "127.0.0.1").Replace("[::]", "[::1]")).Port).FirstOrDefault() ?? listen.Port;
        return new IPEndPoint(listen.Address, port);
    }
}
