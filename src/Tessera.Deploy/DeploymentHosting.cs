using Microsoft.Extensions.Logging;
using Tessera.Pool.Agent;
using Tessera.Pool.Coordinator;

namespace Tessera.Deploy;

/// <summary>Wires deployments into the pool's hosts: the controller into a coordinator, the stage supervisor into an agent.</summary>
public static class DeploymentHosting
{
    /// <summary>Coordinator options that serve deployments: /api/deployments, /blobs and /v1 through the controller's router.</summary>
    public static CoordinatorOptions WithDeployments(this CoordinatorOptions options, DeploymentController controller) => options with
    {
        MapEndpoints = (app, pool) =>
        {
            controller.Attach(pool);
            DeploymentApi.Map(app, controller, pool);
        },
        Generation = pool =>
        {
            controller.Attach(pool);
            return controller.Router;
        },
    };

    /// <summary>Agent options that run deployments' stages with <paramref name="supervisor"/>.</summary>
    public static AgentOptions WithStages(this AgentOptions options, StageSupervisor supervisor) => options with { CommandHandler = supervisor };

    /// <summary>The stage supervisor of an agent whose identity and data live in <paramref name="dataDirectory"/>.</summary>
    public static StageSupervisor CreateSupervisor(AgentIdentity identity, string dataDirectory, ILoggerFactory loggerFactory, TimeProvider time) =>
        new(identity, dataDirectory, loggerFactory, time);
}
