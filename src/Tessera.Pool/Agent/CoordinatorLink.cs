using Tessera.Identity;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Tessera.Pool.Control;
using Tessera.Pool.Protocol;

namespace Tessera.Pool.Agent;

/// <summary>How an agent carries its stream to the coordinator.</summary>
public enum AgentTransport
{
    /// <summary>The control link, or gRPC Connect when the coordinator does not offer it (an older one).</summary>
    Auto,

    /// <summary>Only the control link (ALPN tessera-control/1: length-prefixed messages over mutual TLS).</summary>
    Control,

    /// <summary>Only the gRPC Connect stream over HTTP/2.</summary>
    Grpc,
}

/// <summary>One agent's stream to the coordinator, whichever transport carries it.</summary>
internal interface ICoordinatorLink : IAsyncDisposable
{
    /// <summary>Sends one message; callers write one at a time.</summary>
    ValueTask WriteAsync(AgentMessage message, CancellationToken cancellationToken);

    /// <summary>The next message; null when the coordinator closed the stream. A refusal throws <see cref="AgentRefusedException"/>.</summary>
    ValueTask<CoordinatorMessage?> ReadAsync(CancellationToken cancellationToken);
}

/// <summary>The gRPC Connect stream over HTTP/2.</summary>
internal sealed class GrpcCoordinatorLink : ICoordinatorLink
{
    private readonly GrpcChannel _channel;
    private readonly AsyncDuplexStreamingCall<AgentMessage, CoordinatorMessage> _call;

    public GrpcCoordinatorLink(string address, X509Certificate2 ca, X509Certificate2 certificate, TimeProvider time, CancellationToken cancellationToken)
    {
        _channel = CoordinatorChannel.Create(address, ca, certificate, time);
        _call = new PoolAgent.PoolAgentClient(_channel).Connect(cancellationToken: cancellationToken);
    }

    public async ValueTask WriteAsync(AgentMessage message, CancellationToken cancellationToken) =>
        await _call.RequestStream.WriteAsync(message, cancellationToken).ConfigureAwait(false);

    public async ValueTask<CoordinatorMessage?> ReadAsync(CancellationToken cancellationToken) =>
        await _call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false) ? _call.ResponseStream.Current : null;

    public ValueTask DisposeAsync()
    {
        _call.Dispose();
        _channel.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>The control link: a mutual-TLS connection that negotiated <see cref="ControlFrames.ProtocolName"/>, carrying framed messages.</summary>
internal sealed class ControlCoordinatorLink : ICoordinatorLink
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    private readonly SslStream _tls;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;

    private ControlCoordinatorLink(SslStream tls)
    {
        _tls = tls;
        _input = PipeReader.Create(tls, new StreamPipeReaderOptions(leaveOpen: true));
        _output = PipeWriter.Create(tls, new StreamPipeWriterOptions(leaveOpen: true));
    }

    /// <summary>
    /// Dials <paramref name="address"/> (HOST:PORT) and completes the mutual-TLS handshake, offering the control link
    /// and h2. Null when the coordinator chose h2 (it predates the control link): the caller uses gRPC instead.
    /// </summary>
    public static async Task<ControlCoordinatorLink?> ConnectAsync(string address, X509Certificate2 ca, X509Certificate2 certificate, TimeProvider time, CancellationToken cancellationToken)
    {
        var endpoint = new Uri("https://" + address);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        SslStream? tls = null;
        try
        {
            try
            {
                await socket.ConnectAsync(endpoint.DnsSafeHost, endpoint.Port, timeout.Token).ConfigureAwait(false);
                tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = endpoint.DnsSafeHost,
                    ApplicationProtocols = [ControlFrames.Protocol, SslApplicationProtocol.Http2],
                    ClientCertificates = [certificate],
                    LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate,
                    RemoteCertificateValidationCallback = CertificateChecks.CoordinatorValidation(ca, time),
                }, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"connecting to the coordinator at {address} took over {ConnectTimeout.TotalSeconds:0} s");
            }
            if (tls.NegotiatedApplicationProtocol != ControlFrames.Protocol)
            {
                await tls.DisposeAsync().ConfigureAwait(false);
                return null;
            }
            return new ControlCoordinatorLink(tls);
        }
        catch
        {
            if (tls is not null)
                await tls.DisposeAsync().ConfigureAwait(false);
            else
                socket.Dispose();
            throw;
        }
    }

    public ValueTask WriteAsync(AgentMessage message, CancellationToken cancellationToken) =>
        ControlFrames.WriteAsync(_output, message, cancellationToken);

    public async ValueTask<CoordinatorMessage?> ReadAsync(CancellationToken cancellationToken)
    {
        var message = await ControlFrames.ReadAsync(_input, CoordinatorMessage.Parser, cancellationToken).ConfigureAwait(false);
        if (message?.KindCase == CoordinatorMessage.KindOneofCase.Refused)
            throw new AgentRefusedException(message.Refused.Code, message.Refused.Message);
        return message;
    }

    public async ValueTask DisposeAsync()
    {
        await _input.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // Flushing what was left failed: the connection is gone, which is why it is being disposed.
        }
        await _tls.DisposeAsync().ConfigureAwait(false);
    }
}
