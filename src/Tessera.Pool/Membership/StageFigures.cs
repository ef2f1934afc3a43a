using Tessera.Pool.Protocol;

namespace Tessera.Pool.Membership;

/// <summary>
/// One deployment stage's figures as its agent sent them with its last heartbeat (<see cref="StageMetrics"/>): counters
/// since the stage started, and what it holds now. The pool keeps them per node without knowing what a deployment is;
/// the coordinator's host exports them per deployment, stage and node.
/// </summary>
/// <param name="ForwardSeconds">Time spent in forward passes.</param>
/// <param name="Positions">Positions the forward passes computed.</param>
/// <param name="ActivationBytesReceived">Hidden states received from the previous stage, in bytes.</param>
/// <param name="ActivationBytesSent">Hidden states sent to the next stage, in bytes.</param>
/// <param name="Sessions">Sessions holding a KV cache on the stage now.</param>
/// <param name="KvPositions">Positions their KV caches hold now.</param>
/// <param name="KvCapacityPositions">The most positions the stage's KV caches may hold.</param>
/// <param name="KvBytes">Bytes of their KV caches now.</param>
public sealed record StageFigures(string DeploymentId, int StageIndex, long ForwardPasses, double ForwardSeconds, long Positions,
    long ActivationBytesReceived, long ActivationBytesSent, int Sessions, long KvPositions, long KvCapacityPositions, long KvBytes)
{
    /// <summary>The most stages one heartbeat reports (and the coordinator keeps per node): a machine runs a few.</summary>
    public const int MaxPerNode = 64;

    /// <summary>The longest deployment id kept; ids the coordinator makes are far shorter.</summary>
    private const int MaxIdLength = 64;

    /// <summary>
    /// What a heartbeat reports, made fit to keep and export: at most <see cref="MaxPerNode"/> stages, no negative count,
    /// no time that is not a finite number, no id longer than an id. A node reports what it likes; the coordinator keeps
    /// only this much of it, and exports only the stages of deployments it knows.
    /// </summary>
    internal static IReadOnlyList<StageFigures> From(IReadOnlyList<StageMetrics> reported) =>
        reported.Count == 0 ? [] : reported.Where(m => m.DeploymentId.Length is > 0 and <= MaxIdLength && m.StageIndex >= 0)
            .Take(MaxPerNode)
            .Select(m => new StageFigures(m.DeploymentId, m.StageIndex, Count(m.ForwardPasses), double.IsFinite(m.ForwardSeconds) ? Math.Max(0, m.ForwardSeconds) : 0,
                Count(m.Positions), Count(m.ActivationBytesReceived), Count(m.ActivationBytesSent), Math.Max(0, m.Sessions), Count(m.KvPositions),
                Count(m.KvCapacityPositions), Count(m.KvBytes)))
            .ToArray();

    private static long Count(long value) => Math.Max(0, value);
}
