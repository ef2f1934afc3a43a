using Microsoft.Extensions.Logging;
using Tessera.Identity;
using Tessera.Pool.Agent;

namespace Tessera.Deploy;

/// <summary>Wires deployments into an agent: the stage supervisor that runs the stages the coordinator assigns.</summary>
public static class DeploymentHosting
{
    /// <summary>Agent options that run deployments' stages with <paramref name="supervisor"/> and report their figures with every heartbeat.</summary>
    public static AgentOptions WithStages(this AgentOptions options, StageSupervisor supervisor) =>
        options with { CommandHandler = supervisor, Metrics = ReportingStages(options, supervisor) };

    /// <summary>
    /// Agent options that run deployments' stages with <paramref name="supervisor"/>, measure links with
    /// <paramref name="links"/> (whose endpoint every hello advertises) and, with <paramref name="relay"/>, answer the
    /// coordinator's relay for the ports of both (see <see cref="CreateRelayDialer"/>).
    /// </summary>
    public static AgentOptions WithStages(this AgentOptions options, StageSupervisor supervisor, LinkProbeAgent links, RelayDialer? relay = null) =>
        options with
        {
            CommandHandler = relay is null ? new CombinedCommandHandler(supervisor, links) : new CombinedCommandHandler(supervisor, links, relay),
            AdvertisedEndpoint = () => links.AdvertisedEndpoint,
            Metrics = ReportingStages(options, supervisor),
        };

    /// <summary>The heartbeat's metrics of <paramref name="options"/> with <paramref name="supervisor"/>'s stages' figures added.</summary>
    private static Func<Tessera.Pool.Protocol.Metrics> ReportingStages(AgentOptions options, StageSupervisor supervisor)
    {
        var machine = options.Metrics;
        return () => supervisor.WithStageFigures(machine().Clone()); // a copy: a source may hand out one object every time
    }

    /// <summary>
    /// The agent's side of the coordinator's relay: what lets a machine behind NAT host stages. It connects the relay
    /// only to <paramref name="supervisor"/>'s stages and to <paramref name="links"/>'s probe.
    /// </summary>
    public static RelayDialer CreateRelayDialer(NodeIdentity identity, StageSupervisor supervisor, LinkProbeAgent links, ILoggerFactory loggerFactory) =>
        new(identity.File.Coordinator, port => port == links.Port || supervisor.ServesPort(port), loggerFactory.CreateLogger<RelayDialer>());

    /// <summary>Starts the agent's link probe on <paramref name="port"/> of every address (0: any free port); it refuses what <paramref name="supervisor"/>'s stages refuse.</summary>
    public static Task<LinkProbeAgent> StartLinkProbeAsync(NodeIdentity identity, StageSupervisor supervisor, int port, ILoggerFactory loggerFactory, TimeProvider time,
        CancellationToken cancellation = default) =>
        LinkProbeAgent.StartAsync(identity, supervisor.Revocations, new System.Net.IPEndPoint(System.Net.IPAddress.Any, port), loggerFactory, time, cancellation);

    /// <summary>The stage supervisor of an agent whose identity and data live in <paramref name="dataDirectory"/>.</summary>
    /// <param name="cacheLimitBytes">The most bytes its content store keeps (files of running stages are never evicted).</param>
    /// <param name="faultSlowdown">Fault injection only (tests): the slowdown factor its stages read before each pass (see <see cref="Tessera.Serving.StageHostOptions.FaultSlowdown"/>).</param>
    /// <param name="backends">Creates each stage's backend for the device the plan gave it (default: the CPU only).</param>
    public static StageSupervisor CreateSupervisor(NodeIdentity identity, string dataDirectory, ILoggerFactory loggerFactory, TimeProvider time,
        long cacheLimitBytes = long.MaxValue, Func<double>? faultSlowdown = null, Tessera.Engine.Backends.IBackendFactory? backends = null) =>
        new(identity, dataDirectory, loggerFactory, time, cacheLimitBytes: cacheLimitBytes) { FaultSlowdown = faultSlowdown, Backends = backends };
}
