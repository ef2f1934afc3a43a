namespace Tessera.Serving;

/// <summary>
/// Supplies a replacement pipeline when a stage of the current one fails. The deployment controller implements
/// it by re-planning the lost layers onto live agents and starting their stages; tests start a stage process.
/// The driver pauses its sessions while this runs and replays them on the pipeline it returns.
/// </summary>
public interface IPipelineRecovery
{
    /// <summary>
    /// Returns the endpoints (HOST:PORT, in pipeline order) of a pipeline to continue on. Surviving stages may be
    /// reused; the returned chain must cover the same model from its first block to its last.
    /// </summary>
    /// <exception cref="Exception">Any failure: the driver tries again, up to its bound, then fails the sessions.</exception>
    Task<IReadOnlyList<string>> ReplaceAsync(PipelineFailure failure, CancellationToken cancellation);
}

/// <summary>What broke: the pipeline that was in use, the driver's reason (naming the stage where it can), and which try this is (1 first).</summary>
public sealed record PipelineFailure(IReadOnlyList<string> Endpoints, string Reason, int Attempt)
{
    /// <summary>
    /// The stage (one of <see cref="Endpoints"/>) that the stage before it, or the driver for the first, could not
    /// reach, when the failure says so; null when the pipeline broke otherwise. A stage that is unreachable from its
    /// upstream but answers others is behind a cut link rather than dead.
    /// </summary>
    public string? UnreachableEndpoint { get; init; }

    /// <summary>
    /// True when the lane did not break but stopped making progress (no token back within the stall deadline): then
    /// <see cref="UnreachableEndpoint"/> is the first stage that did not answer the driver's own status request (a
    /// stopped process, a black-holed port), or null when every stage answered.
    /// </summary>
    public bool Stalled { get; init; }
}
