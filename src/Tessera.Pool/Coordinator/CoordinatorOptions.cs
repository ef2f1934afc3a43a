using Tessera.Pool.Membership;

namespace Tessera.Pool.Coordinator;

public sealed record CoordinatorOptions
{
    public const int DefaultPort = 7470;

    public required PoolDataDirectory DataDirectory { get; init; }

    /// <summary>ADDR:PORT to listen on; null reuses the last one stored in the pool (first start: 0.0.0.0:7470). Port 0 picks a free port, kept for later starts.</summary>
    public string? Listen { get; init; }

    /// <summary>host:port written into join tokens; null picks the listen address, or this machine's first LAN address when listening on all interfaces.</summary>
    public string? Advertise { get; init; }

    public FailureDetectorOptions FailureDetector { get; init; } = FailureDetectorOptions.Default;

    public TimeSpan DetectorTick { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan HeartbeatFlushInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>False: agents' control links are not offered (ALPN h2 and http/1.1 only), as by a coordinator that predates them; for tests of the agents' fallback.</summary>
    internal bool OfferControlLink { get; init; } = true;

    /// <summary>
    /// Maps more endpoints on the coordinator's port, after /api: what the executable composes into the coordinator
    /// (deployments, the model store, the OpenAI API and its keys). Called once, while the host is built.
    /// </summary>
    public Action<Microsoft.AspNetCore.Routing.IEndpointRouteBuilder, CoordinatorContext>? MapEndpoints { get; init; }
}
