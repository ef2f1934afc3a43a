using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Tessera.Identity;
using Tessera.Pool.Control;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Pool.Security;

namespace Tessera.Pool.Coordinator;

/// <summary>One agent's stream as the coordinator sees it, whichever transport carries it (gRPC Connect or the control link).</summary>
internal interface IAgentLink
{
    /// <summary>The next message; null when the agent ended the stream.</summary>
    ValueTask<AgentMessage?> ReadAsync(CancellationToken cancellationToken);

    /// <summary>Sends one message; called by one writer at a time.</summary>
    ValueTask WriteAsync(CoordinatorMessage message, CancellationToken cancellationToken);
}

/// <summary>
/// What an agent's stream does on the coordinator, whichever transport carries it: the node certificate checked
/// against membership, the hello, the welcome, heartbeats applied and acknowledged, commands sent from the node's
/// outbox, and the node disconnected when the stream ends, breaks or falls silent.
/// </summary>
internal sealed class AgentSessions(CoordinatorContext pool, ILogger logger)
{
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The member <paramref name="certificate"/> belongs to; throws <see cref="AgentRefusedException"/> when it may not connect.</summary>
    public LiveNode Authenticate(X509Certificate2? certificate, string address)
    {
        if (certificate is null)
            throw Refuse(address, RefusalCode.Unauthenticated, "This stream needs the node certificate: join the pool first with `tessera join TOKEN`.");
        var (nodeId, error) = CertificateChecks.CheckNode(certificate, pool.Authority.Certificate, pool.Time.GetUtcNow());
        if (nodeId is null)
            throw Refuse(address, RefusalCode.Unauthenticated, $"The node certificate was refused: {error}.");
        var node = pool.Membership.Get(nodeId);
        if (node is null || node.CertificateFingerprint != CertificateChecks.Fingerprint(certificate))
            throw Refuse(address, RefusalCode.PermissionDenied, $"Node {nodeId} is not a member of this pool. Join again with a new token (`tessera join TOKEN` with a fresh --data-dir).");
        if (node.State == NodeState.Left)
            throw Refuse(address, RefusalCode.PermissionDenied, $"Node {node.Name} ({nodeId}) was removed from the pool. To come back, join again with a new token and a fresh --data-dir.");
        return node;
    }

    /// <summary>
    /// Runs <paramref name="node"/>'s stream until it ends. Throws <see cref="AgentRefusedException"/> when the hello is
    /// missing or refused; any other end (the agent left, the connection broke, nothing arrived for three heartbeat
    /// intervals and 10 s) disconnects the node and returns.
    /// </summary>
    public async Task RunAsync(LiveNode node, string address, IAgentLink link, CancellationToken cancellationToken)
    {
        using var helloTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        helloTimeout.CancelAfter(HelloTimeout);
        AgentMessage? hello;
        try
        {
            hello = await link.ReadAsync(helloTimeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            hello = null;
        }
        if (hello is null || hello.KindCase != AgentMessage.KindOneofCase.Hello)
            throw Refuse(address, RefusalCode.InvalidArgument, "The first message on the stream must be Hello.");
        if ((AgentReports.Problem(hello.Hello.Name, hello.Hello.Hardware) ?? AgentReports.EndpointProblem(hello.Hello.AdvertisedEndpoint)) is { } problem)
            throw Refuse(address, RefusalCode.InvalidArgument, "The Hello message was refused: " + problem);

        var outbox = new AgentOutbox();
        var connectionId = pool.Membership.Connect(node, hello.Hello, address, outbox);
        NodeState state;
        lock (node.Gate)
            state = node.State;
        var interval = pool.Membership.HeartbeatInterval(node);
        outbox.TryWrite(new CoordinatorMessage
        {
            Welcome = new Welcome
            {
                NodeId = node.Id,
                PoolId = pool.PoolId,
                HeartbeatIntervalMs = (int)interval.TotalMilliseconds,
                State = state.ToWire(),
            },
        });

        using var session = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writer = PumpAsync(outbox, link, session.Token);
        // An agent heartbeats every interval; one silent for three of them and 10 s more is gone, even where the
        // transport has no keepalive of its own (the control link).
        var silence = interval * 3 + TimeSpan.FromSeconds(10);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(session.Token);
        var reason = "stream ended";
        try
        {
            while (true)
            {
                idle.CancelAfter(silence);
                var message = await link.ReadAsync(idle.Token).ConfigureAwait(false);
                if (message is null)
                    break;
                switch (message.KindCase)
                {
                    case AgentMessage.KindOneofCase.Heartbeat:
                        var after = pool.Membership.Heartbeat(node, message.Heartbeat.Metrics, address);
                        outbox.TryWrite(new CoordinatorMessage { HeartbeatAck = new HeartbeatAck { Sequence = message.Heartbeat.Sequence, State = after.ToWire() } });
                        if (after == NodeState.Left)
                            return;
                        break;
                    case AgentMessage.KindOneofCase.CommandResult when !message.CommandResult.Ok:
                        logger.LogCommandFailed(node.Id, message.CommandResult.CommandId, message.CommandResult.Error);
                        pool.AgentMessageObserver?.Invoke(node.Id, message);
                        break;
                    case AgentMessage.KindOneofCase.StageStatus or AgentMessage.KindOneofCase.LinkReport:
                        pool.AgentMessageObserver?.Invoke(node.Id, message);
                        break;
                }
                if (writer.IsCompleted)
                {
                    if (writer.Exception?.InnerException is AgentOutboxFullException full)
                        reason = full.Message;
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (idle.IsCancellationRequested && !session.IsCancellationRequested)
        {
            reason = $"nothing from the agent for {silence.TotalSeconds:0} s";
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or RpcException or InvalidDataException or InvalidProtocolBufferException)
        {
            reason = ex.Message;
        }
        finally
        {
            pool.Membership.Disconnect(node, connectionId, reason);
            outbox.TryComplete();
        }
        try
        {
            await writer.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
        }
    }

    private static async Task PumpAsync(AgentOutbox outbox, IAgentLink link, CancellationToken cancellationToken)
    {
        await foreach (var message in outbox.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            await link.WriteAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>An agent's address as logged and recorded: IPv4 without the IPv6 mapping.</summary>
    public static string Address(System.Net.IPAddress? ip) =>
        ip is null ? string.Empty : (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString();

    private AgentRefusedException Refuse(string address, RefusalCode code, string message)
    {
        logger.LogConnectRefused(address, message);
        return new AgentRefusedException(code, message);
    }
}
