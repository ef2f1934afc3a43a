using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>The pool's nodes as the deployment controller sees them: a typed snapshot (the membership, in a coordinator).</summary>
public interface INodeDirectory
{
    IReadOnlyList<PoolNode> Snapshot();
}

/// <summary>What the pool measured of its network, as the planner takes it.</summary>
public interface ILinkDirectory
{
    /// <summary>The latest measurement of each link (a link the probe could not cross has a prohibitive round trip).</summary>
    IReadOnlyList<Tessera.Planner.LinkInfo> Snapshot();

    /// <summary>The node of the agent on the coordinator's machine, when it runs one: the first stage goes there when that costs nothing.</summary>
    string? CoordinatorNodeId { get; }

    /// <summary>Whether the coordinator's latest attempt to dial the node's link probe failed: nobody can dial it, so its stages are reached through the relay.</summary>
    bool IsUnreachable(string nodeId);
}

/// <summary>Commands to agents (start and stop stages), over their control streams.</summary>
public interface IAgentCommands
{
    /// <summary>Queues <paramref name="command"/> for the node's agent; false when it is not connected.</summary>
    bool TrySend(string nodeId, Command command);
}

/// <summary>The pool's event log, where deployments tell what happened to them.</summary>
public interface IPoolEvents
{
    void Add(string kind, string? nodeId, string message);
}

/// <summary>Connects a deployment's replica to its stages (a pipeline driver over gRPC, in a coordinator).</summary>
public interface IPipelineConnector
{
    /// <param name="recovery">What the pipeline calls when a stage breaks: the controller's re-planning.</param>
    Task<IPipelineService> ConnectAsync(PipelineTarget target, IReadOnlyList<string> endpoints, IPipelineRecovery recovery, CancellationToken cancellation);
}

/// <summary>What a replica's pipeline serves: the deployment's name, its session bound and its model's tokenizer and chat template.</summary>
public sealed record PipelineTarget(string Name, int MaxSessions, ModelFacts Model)
{
    /// <summary>Stamps the pipeline's lanes with the deployment's route tickets; null where stages check none.</summary>
    public RouteTicketIssuer? Tickets { get; init; }
}

/// <summary>Whether the coordinator itself reaches a stage (it answers a status call).</summary>
public interface IStageReachability
{
    /// <summary>Null when the stage at <paramref name="endpoint"/> answers within <paramref name="timeout"/>; otherwise what went wrong.</summary>
    Task<string?> ProblemAsync(string endpoint, TimeSpan timeout, CancellationToken cancellation);
}

/// <summary>A relay that forwards connections to nodes nobody can dial (behind NAT or a firewall).</summary>
public interface IStageRelay
{
    /// <summary>What relays (for words such as "relayed via coordinator").</summary>
    string Via { get; }

    /// <summary>HOST:PORT that reaches <paramref name="directEndpoint"/>'s port on <paramref name="nodeId"/> through the relay.</summary>
    string Through(string nodeId, string directEndpoint);
}

/// <summary>
/// A running stage's decoding counters since it started (its status): what the coordinator learns the node's speed
/// from, and, with its neighbours' counters, the time a token spends on the links between them.
/// </summary>
/// <param name="DecodePasses">Forward passes in which every session had one position.</param>
/// <param name="DecodeSeconds">The time those passes took.</param>
/// <param name="DecodeWaits">Decoding steps the stage sent to the next one and got the answer for.</param>
/// <param name="DecodeWaitSeconds">The time it waited for those answers.</param>
/// <param name="DecodeHeadSeconds">The part of <paramref name="DecodeSeconds"/> a last stage spent in the head (0: not last, or not said).</param>
public readonly record struct StageCounters(long DecodePasses, double DecodeSeconds, long DecodeWaits = 0, double DecodeWaitSeconds = 0, double DecodeHeadSeconds = 0);

/// <summary>Reads running stages' counters (their status call, in a coordinator).</summary>
public interface IStageCounters
{
    /// <summary>The counters of the stage at <paramref name="endpoint"/>; null when it does not answer within <paramref name="timeout"/>.</summary>
    Task<StageCounters?> ReadAsync(string endpoint, TimeSpan timeout, CancellationToken cancellation);
}

/// <summary>
/// Everything the deployment controller does outside itself goes through these: the node snapshot, agent commands,
/// the deployment store, the event log, pipelines to stages, probes of stages and their counters, and the address
/// agents fetch files from. A coordinator fills them from its own parts (<see cref="CoordinatorDeployments"/>); tests substitute them.
/// </summary>
internal sealed record DeploymentPorts(
    INodeDirectory Nodes,
    IAgentCommands Agents,
    IDeploymentStore Store,
    IPoolEvents Events,
    IPipelineConnector Pipelines,
    IStageReachability Reachability,
    Func<string> CoordinatorAddress,
    Func<string, byte[]>? RouteKeys = null,
    ILinkDirectory? Links = null,
    IStageRelay? Relay = null,
    IStageCounters? Counters = null);
