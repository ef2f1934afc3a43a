using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Tessera.Identity;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Pool.Security;

namespace Tessera.Pool.Coordinator;

/// <summary>The gRPC endpoint agents dial: Join (token, TLS pinned to the CA) and Connect (mutual TLS stream).</summary>
[BindServiceMethod(typeof(PoolAgentService), nameof(BindService))]
public sealed class PoolAgentService(CoordinatorContext pool, ILogger<PoolAgentService> logger) : PoolAgent.PoolAgentBase
{
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Binds the service as the generated <see cref="PoolAgent.BindService(ServiceBinderBase, PoolAgent.PoolAgentBase)"/> does, with
    /// marshallers that answer bytes that are not a message InvalidArgument instead of Unknown. gRPC finds this method
    /// through the attribute above and calls it with no instance (each call gets its own); the parameter is typed as
    /// the generated base, as gRPC takes it to be the type that declares the rpc methods.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, PoolAgent.PoolAgentBase? service)
    {
        binder.AddMethod(ProtobufMarshaller.Method(PoolAgent.Descriptor, nameof(Join), JoinRequest.Parser, JoinResponse.Parser),
            service is null ? null : service.Join);
        binder.AddMethod(ProtobufMarshaller.Method(PoolAgent.Descriptor, nameof(Connect), AgentMessage.Parser, CoordinatorMessage.Parser),
            service is null ? null : service.Connect);
    }

    public override Task<JoinResponse> Join(JoinRequest request, ServerCallContext context)
    {
        var address = RemoteAddress(context);
        if (pool.JoinThrottle.RetryAfter(address) is { } wait)
        {
            logger.LogJoinRefused(address, "throttled", Logged(request.TokenId));
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"Join refused: too many failed join attempts from {address}; try again in {Math.Ceiling(wait.TotalSeconds)} s."));
        }
        var record = pool.Store.GetToken(request.TokenId ?? string.Empty);
        var verdict = TokenValidator.Validate(record, request.TokenSecret, pool.Time.GetUtcNow());
        if (verdict != TokenVerdict.Valid)
        {
            pool.JoinThrottle.Failed(address);
            logger.LogJoinRefused(address, verdict.ToString(), Logged(request.TokenId));
            throw new RpcException(new Status(StatusCode.PermissionDenied, TokenValidator.Explain(verdict, request.TokenId ?? string.Empty, record)));
        }

        if (AgentReports.Problem(request.Name, request.Hardware) is { } problem)
        {
            pool.JoinThrottle.Failed(address);
            logger.LogJoinRefused(address, "description", Logged(request.TokenId));
            throw new RpcException(new Status(StatusCode.InvalidArgument, "Join refused: " + problem));
        }

        JoinResponse response;
        try
        {
            response = pool.AdmitNode(request.CsrDer.Span, request.Name, request.Hardware, address, record);
        }
        catch (PoolException ex)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, ex.Message));
        }
        catch (IdentityException ex)
        {
            pool.JoinThrottle.Failed(address);
            throw new RpcException(new Status(StatusCode.InvalidArgument, ex.Message));
        }
        logger.LogNodeJoined(response.Name, response.NodeId, address, record!.Id);
        return Task.FromResult(response);
    }

    public override async Task Connect(IAsyncStreamReader<AgentMessage> requestStream, IServerStreamWriter<CoordinatorMessage> responseStream, ServerCallContext context)
    {
        var address = RemoteAddress(context);
        var node = Authenticate(context, address);

        using var helloTimeout = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        helloTimeout.CancelAfter(HelloTimeout);
        if (!await requestStream.MoveNext(helloTimeout.Token).ConfigureAwait(false) || requestStream.Current.KindCase != AgentMessage.KindOneofCase.Hello)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "The first message on the stream must be Hello."));
        if ((AgentReports.Problem(requestStream.Current.Hello.Name, requestStream.Current.Hello.Hardware)
            ?? AgentReports.EndpointProblem(requestStream.Current.Hello.AdvertisedEndpoint)) is { } problem)
            throw Refuse(address, StatusCode.InvalidArgument, "The Hello message was refused: " + problem);

        var outbox = new AgentOutbox();
        var connectionId = pool.Membership.Connect(node, requestStream.Current.Hello, address, outbox);
        NodeState state;
        lock (node.Gate)
            state = node.State;
        outbox.TryWrite(new CoordinatorMessage
        {
            Welcome = new Welcome
            {
                NodeId = node.Id,
                PoolId = pool.PoolId,
                HeartbeatIntervalMs = (int)pool.Membership.HeartbeatInterval(node).TotalMilliseconds,
                State = state.ToWire(),
            },
        });

        var writer = PumpAsync(outbox, responseStream, context.CancellationToken);
        var reason = "stream ended";
        try
        {
            while (await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
            {
                var message = requestStream.Current;
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
        catch (Exception ex) when (ex is IOException or OperationCanceledException or RpcException)
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

    private static async Task PumpAsync(AgentOutbox outbox, IServerStreamWriter<CoordinatorMessage> stream, CancellationToken cancellationToken)
    {
        await foreach (var message in outbox.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            await stream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
    }

    private LiveNode Authenticate(ServerCallContext context, string address)
    {
        var certificate = context.GetHttpContext().Connection.ClientCertificate;
        if (certificate is null)
            throw Refuse(address, StatusCode.Unauthenticated, "This stream needs the node certificate: join the pool first with `tessera join TOKEN`.");
        var (nodeId, error) = CertificateChecks.CheckNode(certificate, pool.Authority.Certificate, pool.Time.GetUtcNow());
        if (nodeId is null)
            throw Refuse(address, StatusCode.Unauthenticated, $"The node certificate was refused: {error}.");
        var node = pool.Membership.Get(nodeId);
        if (node is null || node.CertificateFingerprint != CertificateChecks.Fingerprint(certificate))
            throw Refuse(address, StatusCode.PermissionDenied, $"Node {nodeId} is not a member of this pool. Join again with a new token (`tessera join TOKEN` with a fresh --data-dir).");
        if (node.State == NodeState.Left)
            throw Refuse(address, StatusCode.PermissionDenied, $"Node {node.Name} ({nodeId}) was removed from the pool. To come back, join again with a new token and a fresh --data-dir.");
        return node;
    }

    private RpcException Refuse(string address, StatusCode code, string message)
    {
        logger.LogConnectRefused(address, message);
        return new RpcException(new Status(code, message));
    }

    /// <summary>A token id as logged: whoever sends a join chooses it, up to the 4 MiB of a message, so only its start is written.</summary>
    private static string Logged(string? tokenId) =>
        tokenId is null ? string.Empty : tokenId.Length <= 64 ? tokenId : tokenId[..64] + $"... ({tokenId.Length} characters)";

    private static string RemoteAddress(ServerCallContext context)
    {
        var ip = context.GetHttpContext().Connection.RemoteIpAddress;
        if (ip is null)
            return string.Empty;
        return (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString();
    }
}
