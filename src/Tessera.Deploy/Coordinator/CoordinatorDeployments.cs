using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Tessera.Distribution;
using Tessera.Pool.Coordinator;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// A coordinator's deployment controller: its ports filled from the coordinator's parts — the membership (node
/// snapshot, agent commands), the pool database (deployments, events), pipelines driven over mutual TLS with a
/// certificate the pool CA gives the coordinator, and the coordinator's content store for models and slices.
/// </summary>
public static class CoordinatorDeployments
{
    /// <summary>
    /// Creates the controller of <paramref name="pool"/> and subscribes it to agents' reports. Call before the
    /// coordinator listens, so that agents reconnecting at once find their deployments; then <see cref="DeploymentController.Start"/>.
    /// </summary>
    public static DeploymentController Create(CoordinatorContext pool, string dataDirectory, ILoggerFactory loggerFactory, TimeProvider time,
        DeploymentControllerOptions? options = null)
    {
        var tls = IssueDriverCertificate(pool, time);
        var settings = options ?? DeploymentControllerOptions.Default;
        DeploymentController? controller = null;
        var relay = new StageRelay(new MembershipCommands(pool.Membership), () => pool.ListenAddress, () => pool.JoinAddress, loggerFactory.CreateLogger<StageRelay>());
        var links = new LinkMonitor(new MembershipNodes(pool.Membership), new MembershipCommands(pool.Membership), pool.Store, tls, () => pool.JoinAddress,
            coordinatorNode => controller?.PipelineNeighbours(coordinatorNode) ?? [], settings.Links, time, loggerFactory.CreateLogger<LinkMonitor>())
        {
            Relay = relay,
        };
        var ports = new DeploymentPorts(
            new MembershipNodes(pool.Membership),
            new MembershipCommands(pool.Membership),
            new DeploymentStore(pool.Store.Database),
            new PoolEventLog(pool.Store, time),
            new PipelineConnector(tls, loggerFactory.CreateLogger<PipelineDriver>()),
            new StageReachability(tls),
            () => pool.JoinAddress,
            deploymentId => pool.Authority.DeriveSecret("stage-routes:" + deploymentId),
            links,
            relay,
            new StageCounterReader(tls));
        var content = new ContentStore(Path.Combine(dataDirectory, "content"), settings.ContentLimitBytes, time, loggerFactory.CreateLogger<ContentStore>());
        controller = new DeploymentController(ports, new ModelFiles(content, loggerFactory, time, settings.MaxDownloadBytes), loggerFactory, time, options) { Links = links };
        var created = controller;
        pool.AgentMessageObserver = (nodeId, message) =>
        {
            if (message.KindCase == AgentMessage.KindOneofCase.StageStatus)
                created.OnStageStatus(nodeId, message.StageStatus);
            else if (message.KindCase == AgentMessage.KindOneofCase.LinkReport)
                links.OnLinkReport(nodeId, message.LinkReport);
        };
        return controller;
    }

    /// <summary>
    /// The coordinator drives pipelines as a client of the stages: it gives itself a certificate of the pool CA
    /// (client authentication, like a node's), held in memory only.
    /// </summary>
    private static StageTls IssueDriverCertificate(CoordinatorContext pool, TimeProvider time)
    {
        var certificate = pool.Authority.IssueNodeCertificate("driver_" + pool.PoolId, time);
        return new StageTls(certificate, pool.Authority.Certificate, time, pool.Membership.Revocations);
    }

    private sealed class MembershipNodes(MembershipService membership) : INodeDirectory
    {
        public IReadOnlyList<PoolNode> Snapshot() => membership.Snapshot();
    }

    private sealed class MembershipCommands(MembershipService membership) : IAgentCommands
    {
        public bool TrySend(string nodeId, Command command) => membership.TrySendCommand(nodeId, command);
    }

    private sealed class PipelineConnector(StageTls tls, ILogger logger) : IPipelineConnector
    {
        public async Task<IPipelineService> ConnectAsync(PipelineTarget target, IReadOnlyList<string> endpoints, IPipelineRecovery recovery, CancellationToken cancellation) =>
            await PipelineGenerationService.ConnectAsync(target.Model.Tokenizer, target.Model.ChatTemplate, endpoints, new PipelineGenerationServiceOptions
            {
                Id = target.Name,
                Tls = tls,
                MaxActiveSessions = target.MaxSessions,
                Recovery = recovery,
                Logger = logger,
                Tickets = target.Tickets,
            }, cancellation).ConfigureAwait(false);
    }

    private sealed class StageReachability(StageTls tls) : IStageReachability
    {
        public Task<string?> ProblemAsync(string endpoint, TimeSpan timeout, CancellationToken cancellation) =>
            StageProbe.ProblemAsync(endpoint, tls, timeout, cancellation);
    }
}

/// <summary>
/// Reads stages' decoding counters with their status call, over one channel per stage kept between reads (a read every
/// few seconds would otherwise pay a mutual-TLS handshake each time); a channel whose read fails is dropped.
/// </summary>
internal sealed class StageCounterReader(StageTls tls) : IStageCounters
{
    /// <summary>More channels than this (stages long gone) are all dropped at once; live ones are made again on the next read.</summary>
    private const int MaxChannels = 256;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Grpc.Net.Client.GrpcChannel> _channels = new(StringComparer.Ordinal);

    public async Task<StageCounters?> ReadAsync(string endpoint, TimeSpan timeout, CancellationToken cancellation)
    {
        if (_channels.Count > MaxChannels)
        {
            foreach (var key in _channels.Keys)
                Drop(key);
        }
        var channel = _channels.GetOrAdd(endpoint, e => StageChannels.Create(e, tls));
        try
        {
            var status = await new Tessera.Serving.Protocol.Stage.StageClient(channel)
                .StatusAsync(new Tessera.Serving.Protocol.StatusRequest(), deadline: DateTime.UtcNow.Add(timeout), cancellationToken: cancellation)
                .ResponseAsync.ConfigureAwait(false);
            return new StageCounters(status.DecodePasses, status.DecodeSeconds, status.DecodeWaits, status.DecodeWaitSeconds, status.DecodeHeadSeconds);
        }
        catch (Grpc.Core.RpcException) when (!cancellation.IsCancellationRequested)
        {
            Drop(endpoint);
            return null;
        }
    }

    private void Drop(string endpoint)
    {
        if (_channels.TryRemove(endpoint, out var channel))
            channel.Dispose();
    }
}

/// <summary>The pool's event log in its database, as the deployments' <see cref="IPoolEvents"/>.</summary>
internal sealed class PoolEventLog(Tessera.Pool.State.PoolStore store, TimeProvider time) : IPoolEvents
{
    public void Add(string kind, string? nodeId, string message) => store.AddEvent(time.GetUtcNow(), kind, nodeId, message);
}
