using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Tessera.Identity;

namespace Tessera.Pool.Agent;

/// <summary>Builds TLS connections to the coordinator that trust only the pool CA (and present the node certificate when there is one).</summary>
public static class CoordinatorChannel
{
    public static SocketsHttpHandler Handler(X509Certificate2 ca, X509Certificate2? clientCertificate, TimeProvider time)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingDelay = TimeSpan.FromSeconds(5),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            EnableMultipleHttp2Connections = false,
        };
        handler.SslOptions.RemoteCertificateValidationCallback = CertificateChecks.CoordinatorValidation(ca, time);
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }
        return handler;
    }

    public static GrpcChannel Create(string address, X509Certificate2 ca, X509Certificate2? clientCertificate, TimeProvider time) =>
        GrpcChannel.ForAddress("https://" + address, new GrpcChannelOptions
        {
            HttpHandler = Handler(ca, clientCertificate, time),
            DisposeHttpClient = true,
            MaxReceiveMessageSize = 4 * 1024 * 1024,
        });

    /// <summary>A handler that accepts any server certificate: used only to download the CA, whose hash is then checked against the token.</summary>
    internal static SocketsHttpHandler UnverifiedHandler()
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        return handler;
    }
}
