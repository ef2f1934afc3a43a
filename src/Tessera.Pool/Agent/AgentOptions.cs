using Tessera.Pool.Protocol;

namespace Tessera.Pool.Agent;

public sealed record AgentOptions
{
    /// <summary>Where the agent keeps its identity (and where disk free is measured).</summary>
    public required string DataDirectory { get; init; }

    /// <summary>The name reported to the coordinator; the machine name by default.</summary>
    public string? Name { get; init; }

    /// <summary>Hardware reported in the hello; discovered once at start.</summary>
    public required Func<Protocol.Hardware> Hardware { get; init; }

    /// <summary>Metrics sent with each heartbeat.</summary>
    public required Func<Metrics> Metrics { get; init; }

    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>With no acknowledgement for this many heartbeat intervals the connection is presumed dead and replaced.</summary>
    public int MissedAcksBeforeReconnect { get; init; } = 4;

    /// <summary>Called with the round trip of each acknowledged heartbeat (sent to state applied and acknowledged).</summary>
    public Action<TimeSpan>? OnHeartbeatAcknowledged { get; init; }

    /// <summary>Runs the commands this agent does not handle itself (deployments' stages); null refuses them.</summary>
    public IAgentCommandHandler? CommandHandler { get; init; }

    /// <summary>HOST:PORT of the agent's link probe, sent in every hello; null or empty: none.</summary>
    public Func<string?>? AdvertisedEndpoint { get; init; }

    /// <summary>How the stream reaches the coordinator: the control link, falling back to gRPC for an older coordinator, by default.</summary>
    public AgentTransport Transport { get; init; } = AgentTransport.Auto;

    /// <summary>Called on every welcome (first connection and each reconnection).</summary>
    public Action<Welcome>? OnWelcome { get; init; }
}
