using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Tessera.Identity;

namespace Tessera.Serving;

/// <summary>
/// Mutual TLS between stages with the pool's certificates: each end presents its node certificate (issued
/// by the pool CA when the agent joined) and accepts only node certificates of the same pool. Host names are
/// not checked; the pool CA is the trust anchor, as for agent-to-coordinator traffic.
/// </summary>
public sealed class StageTls(X509Certificate2 certificate, X509Certificate2 caCertificate, TimeProvider? time = null, CertificateRevocations? revocations = null)
{
    /// <summary>This node's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; } = certificate;

    public X509Certificate2 CaCertificate { get; } = caCertificate;

    public TimeProvider Time { get; } = time ?? TimeProvider.System;

    /// <summary>Certificates of removed nodes, refused even though the pool CA signed them.</summary>
    public CertificateRevocations Revocations { get; } = revocations ?? new CertificateRevocations();

    /// <summary>Loads an agent's identity directory (node.crt, node.key, ca.crt).</summary>
    public static StageTls FromAgentDirectory(string directory)
    {
        var identity = NodeIdentity.Load(directory);
        return new StageTls(identity.Certificate, identity.CaCertificate);
    }

    /// <summary>Null when <paramref name="presented"/> is a node certificate of this pool; otherwise why not.</summary>
    public string? Check(X509Certificate? presented)
    {
        if (presented is null)
            return "no certificate was presented";
        var certificate = presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        return CertificateChecks.CheckNode(certificate, CaCertificate, Time.GetUtcNow()).Error
            ?? (Revocations.IsRevoked(CertificateChecks.Fingerprint(certificate)) ? "the certificate was revoked: its node was removed from the pool" : null);
    }

    internal SocketsHttpHandler ClientHandler()
    {
        var handler = StageChannels.BaseHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) => Check(presented) is null;
        handler.SslOptions.ClientCertificates = [Certificate];
        handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => Certificate;
        return handler;
    }
}

/// <summary>gRPC channels to stage endpoints (HOST:PORT): TLS with <see cref="StageTls"/>, or h2c when none is given.</summary>
public static class StageChannels
{
    /// <summary>Largest message between stages: a prefill chunk of a wide model in f32.</summary>
    public const int MaxMessageBytes = 256 * 1024 * 1024;

    public static GrpcChannel Create(string endpoint, StageTls? tls)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        var scheme = tls is null ? "http://" : "https://";
        return GrpcChannel.ForAddress(scheme + endpoint, new GrpcChannelOptions
        {
            HttpHandler = tls?.ClientHandler() ?? BaseHandler(),
            DisposeHttpClient = true,
            MaxReceiveMessageSize = MaxMessageBytes,
            MaxSendMessageSize = MaxMessageBytes,
        });
    }

    internal static SocketsHttpHandler BaseHandler() => new()
    {
        ConnectTimeout = TimeSpan.FromSeconds(5),
        KeepAlivePingDelay = TimeSpan.FromSeconds(5),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        EnableMultipleHttp2Connections = true,
        SslOptions = new SslClientAuthenticationOptions(),
        ConnectCallback = ConnectAsync,
    };

    /// <summary>Connects with Nagle off: a sampled token is a few bytes and must not wait for an ACK.</summary>
    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellation)
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellation).ConfigureAwait(false);
            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
