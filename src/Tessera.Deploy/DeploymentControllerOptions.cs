using Tessera.Distribution;
using Tessera.Planner;

namespace Tessera.Deploy;

/// <summary>How the deployment controller keeps plans good. The defaults are what <c>tessera pool start</c> uses.</summary>
public sealed record DeploymentControllerOptions
{
    public static DeploymentControllerOptions Default { get; } = new();

    /// <summary>Whether deployments move to a better plan by themselves (a node came back, a faster one joined).</summary>
    public bool Improve { get; init; } = true;

    /// <summary>
    /// How often each deployment looks for a better plan, and the least time between two changes of its plan: a
    /// recovery, a drain or an improvement is followed by at least this long on the new plan before it improves again.
    /// </summary>
    public TimeSpan ImproveInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The margins a better plan must clear (<see cref="PlannerOptions.ImproveMinSpeedGain"/>,
    /// <see cref="PlannerOptions.ImproveGainPerMovedModel"/>); used when looking for improvements.
    /// </summary>
    public PlannerOptions Planner { get; init; } = PlannerOptions.Default;

    /// <summary>
    /// The most bytes the coordinator's model store keeps (models and slices). Beyond it, the least recently used files
    /// no deployment needs (slices of old plans, models no longer deployed) are deleted; files of deployments are
    /// kept. Unbounded by default.
    /// </summary>
    public long ContentLimitBytes { get; init; } = long.MaxValue;

    /// <summary>
    /// The largest model file the coordinator downloads from Hugging Face (<c>--max-download</c>); a larger one is
    /// refused before the download starts, or stopped as soon as the server sends more. A file larger than
    /// <see cref="ContentLimitBytes"/> is refused too, since it could never stay in the store.
    /// </summary>
    public long MaxDownloadBytes { get; init; } = HuggingFaceOptions.DefaultMaxDownloadBytes;

    /// <summary>How the coordinator keeps the pool's links measured (the links deployments plan with).</summary>
    public LinkMonitorOptions Links { get; init; } = LinkMonitorOptions.Default;

    /// <summary>How the coordinator learns nodes' speeds from their stages' step times, and when a change of speed brings an improvement check forward.</summary>
    public StageSpeedOptions Speeds { get; init; } = StageSpeedOptions.Default;

    /// <summary>Throws <see cref="ArgumentException"/> naming a bad value.</summary>
    public void Validate()
    {
        Speeds.Validate();
        if (ImproveInterval <= TimeSpan.Zero)
            throw new ArgumentException($"The improvement interval must be positive (got {ImproveInterval}).");
        if (ContentLimitBytes <= 0)
            throw new ArgumentException($"The model store's size limit must be positive (got {ContentLimitBytes}).");
        if (MaxDownloadBytes <= 0)
            throw new ArgumentException($"The download size limit must be positive (got {MaxDownloadBytes}).");
        if (!(Planner.ImproveMinSpeedGain >= 0) || !(Planner.ImproveGainPerMovedModel >= 0))
            throw new ArgumentException("The improvement margins must be zero or more.");
    }
}
