namespace Tessera.Deploy;

/// <summary>
/// How the coordinator learns each node's speed from its stages' own step times (<see cref="ObservedSpeeds"/>) and
/// when a change of speed brings a deployment's look for a better plan forward. The defaults are what
/// <c>tessera pool start</c> uses.
/// </summary>
public sealed record StageSpeedOptions
{
    public static StageSpeedOptions Default { get; } = new();

    /// <summary>How often the coordinator reads its stages' counters; zero turns observing off (plans use probed speeds only).</summary>
    public TimeSpan ObserveInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Decoding passes a sample spans at least: fewer are added to the next reading, so one slow pass is never a sample.
    /// A stage that decodes slowly makes few passes; for it, <see cref="MinSampleSeconds"/> of passes (two at least) make
    /// a sample too, so the slower a stage, the sooner it is not waited for.
    /// </summary>
    public int MinPassesPerSample { get; init; } = 16;

    /// <summary>Seconds of decoding (over two passes at least) that make a sample however few the passes.</summary>
    public TimeSpan MinSampleSeconds { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Samples remembered per node; its speed is their median, so one outlier in either direction moves nothing.</summary>
    public int Window { get; init; } = 5;

    /// <summary>Samples a node needs before its observed speed is used (a majority of <see cref="Window"/> by default).</summary>
    public int MinSamples { get; init; } = 3;

    /// <summary>
    /// How long a sample counts. A node whose stages moved away is not observed any more; after this its probe's figure
    /// (calibrated, see <see cref="ObservedSpeeds"/>) stands for it again, so a node that was slow for a while is not
    /// shunned for ever. Long against the improvement interval, so a node that stays slow is not tried again often.
    /// </summary>
    public TimeSpan SampleLifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// A node of a deployment's plan whose speed moved by this factor (either way) since the plan was last weighed
    /// brings the deployment's look for a better plan forward. The planner's own margins still decide whether to move.
    /// Twice, so that two readings each off by up to 30 % (a busy machine) never bring a check forward; a smaller
    /// change is still weighed at the next periodic check, which plans with the observed speeds too.
    /// </summary>
    public double DriftFactor { get; init; } = 2;

    /// <summary>Throws <see cref="ArgumentException"/> naming a bad value.</summary>
    public void Validate()
    {
        if (ObserveInterval < TimeSpan.Zero)
            throw new ArgumentException($"The speed observation interval must be zero (off) or positive (got {ObserveInterval}).");
        if (MinPassesPerSample < 1 || Window < 1 || MinSamples < 1 || MinSamples > Window)
            throw new ArgumentException($"Speed samples need at least one pass and 1 <= min samples <= window (got {MinPassesPerSample}, {MinSamples}, {Window}).");
        if (MinSampleSeconds <= TimeSpan.Zero)
            throw new ArgumentException($"The seconds that make a speed sample must be positive (got {MinSampleSeconds}).");
        if (SampleLifetime <= TimeSpan.Zero)
            throw new ArgumentException($"The speed samples' lifetime must be positive (got {SampleLifetime}).");
        if (!(DriftFactor > 1) || !double.IsFinite(DriftFactor))
            throw new ArgumentException($"The speed drift factor must be a number above 1 (got {DriftFactor}).");
    }
}
