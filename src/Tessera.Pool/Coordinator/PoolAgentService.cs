using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Tessera.Identity;
using Tessera.Pool.Control;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Pool.Security;

namespace Tessera.Pool.Coordinator;

/// <summary>The gRPC endpoint agents dial: Join (token, TLS pinned to the CA) and Connect (mutual TLS stream).</summary>
[BindServiceMethod(typeof(PoolAgentService), nameof(BindService))]
public sealed class PoolAgentService(CoordinatorContext pool, ILogger<PoolAgentService> logger) : PoolAgent.PoolAgentBase
{
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
        var sessions = new AgentSessions(pool, logger);
        try
        {
            var node = sessions.Authenticate(context.GetHttpContext().Connection.ClientCertificate, address);
            await sessions.RunAsync(node, address, new GrpcAgentLink(requestStream, responseStream), context.CancellationToken).ConfigureAwait(false);
        }
        catch (AgentRefusedException ex)
        {
            throw new RpcException(new Status(StatusOf(ex.Code), ex.Message));
        }
    }

    private static StatusCode StatusOf(RefusalCode code) => code switch
    {
        RefusalCode.Unauthenticated => StatusCode.Unauthenticated,
        RefusalCode.PermissionDenied => StatusCode.PermissionDenied,
        _ => StatusCode.InvalidArgument,
    };

    /// <summary>The gRPC Connect stream as an <see cref="IAgentLink"/>.</summary>
    private sealed class GrpcAgentLink(IAsyncStreamReader<AgentMessage> requests, IServerStreamWriter<CoordinatorMessage> responses) : IAgentLink
    {
        public async ValueTask<AgentMessage?> ReadAsync(CancellationToken cancellationToken) =>
            await requests.MoveNext(cancellationToken).ConfigureAwait(false) ? requests.Current : null;

        public async ValueTask WriteAsync(CoordinatorMessage message, CancellationToken cancellationToken) =>
            await responses.WriteAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A token id as logged: whoever sends a join chooses it, up to the 4 MiB of a message, so only its start is written.</summary>
    private static string Logged(string? tokenId) =>
        tokenId is null ? string.Empty : tokenId.Length <= 64 ? tokenId : tokenId[..64] + $"... ({tokenId.Length} characters)";

    private static string RemoteAddress(ServerCallContext context) => AgentSessions.Address(context.GetHttpContext().Connection.RemoteIpAddress);
}
