using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using Tessera.Pool.Control;
using Tessera.Pool.Protocol;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// Serves agents' control links on the coordinator's port: a Kestrel connection middleware after TLS that takes the
/// connections whose ALPN is <see cref="ControlFrames.ProtocolName"/> and runs the agent's stream on them; every other
/// connection goes on to HTTP (the API, gRPC Join and Connect).
/// </summary>
internal sealed class ControlLinkServer(CoordinatorContext pool, ILogger logger)
{
    /// <summary>Whether the TLS handshake of <paramref name="connection"/> chose the control link.</summary>
    public static bool Negotiated(ConnectionContext connection) =>
        connection.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual(ControlFrames.Protocol.Protocol.Span) == true;

    public async Task RunAsync(ConnectionContext connection)
    {
        var address = AgentSessions.Address((connection.RemoteEndPoint as IPEndPoint)?.Address);
        var link = new PipeAgentLink(connection.Transport);
        var sessions = new AgentSessions(pool, logger);
        // Kestrel asks connections to close when the coordinator stops; a control link ends its session then.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        using var closing = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed, closeRequested);
        try
        {
            var node = sessions.Authenticate(connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate, address);
            await sessions.RunAsync(node, address, link, closing.Token).ConfigureAwait(false);
        }
        catch (AgentRefusedException ex)
        {
            try
            {
                await link.WriteAsync(new CoordinatorMessage { Refused = new Refused { Code = ex.Code, Message = ex.Message } }, closing.Token).ConfigureAwait(false);
            }
            catch (Exception write) when (write is IOException or OperationCanceledException)
            {
                // The agent is gone already; it learns the refusal on its next attempt.
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidDataException)
        {
            // The connection broke before the session began (during the hello); nothing to disconnect.
        }
        finally
        {
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A control link's decrypted pipe as an <see cref="IAgentLink"/>.</summary>
    private sealed class PipeAgentLink(IDuplexPipe pipe) : IAgentLink
    {
        public ValueTask<AgentMessage?> ReadAsync(CancellationToken cancellationToken) =>
            ControlFrames.ReadAsync(pipe.Input, AgentMessage.Parser, cancellationToken);

        public ValueTask WriteAsync(CoordinatorMessage message, CancellationToken cancellationToken) =>
            ControlFrames.WriteAsync(pipe.Output, message, cancellationToken);
    }
}
