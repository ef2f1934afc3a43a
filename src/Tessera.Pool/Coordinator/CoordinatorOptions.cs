using Tessera.Generation;
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

    /// <summary>
    /// What runs models for the OpenAI-compatible API: when set, the coordinator serves /v1 (keys from
    /// <see cref="CoordinatorContext.ApiKeys"/>) with the service this makes from the coordinator's context.
    /// </summary>
    public Func<CoordinatorContext, Tessera.Generation.ITextGenerationService>? Generation { get; init; }

    /// <summary>Maps more endpoints on the coordinator's port (deployments, the model store), after /api and before /v1.</summary>
    public Action<Microsoft.AspNetCore.Routing.IEndpointRouteBuilder, CoordinatorContext>? MapEndpoints { get; init; }
}
