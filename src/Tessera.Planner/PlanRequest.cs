namespace Tessera.Planner;

/// <summary>What to place: a model, the sessions it must hold, and the user's constraints.</summary>
public sealed record PlanRequest
{
    public required ModelProfile Model { get; init; }

    /// <summary>Context length C: every session's KV cache is sized for C positions.</summary>
    public required int ContextLength { get; init; }

    /// <summary>Sessions S served at once: every stage holds a KV cache of C positions for each.</summary>
    public int MaxSessions { get; init; } = 1;

    /// <summary>Independent copies of the pipeline, on disjoint devices. Ignored when <see cref="AutoReplicas"/> is set.</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>
    /// Let the planner choose the number of replicas (<c>--replicas auto</c>): it tries 1, 2, ... (at most
    /// <see cref="PlannerOptions.MaxAutoReplicas"/>, while the next replica fits) and keeps the count with the most
    /// aggregate saturated tokens/s whose every replica decodes one session at least
    /// <see cref="PlannerOptions.AutoReplicaMinSingleStream"/> times as fast as the best one-replica plan.
    /// The explanation gives the count chosen and why. See docs/planner.md, <em>Replicas chosen by the planner</em>.
    /// </summary>
    public bool AutoReplicas { get; init; }

    /// <summary>Prompt length for which each pipeline's prefill and time to first token are predicted (<see cref="PipelinePlan.Prompt"/>): 512 tokens.</summary>
    public int PromptTokens { get; init; } = 512;

    /// <summary>
    /// Also list the plans considered and rejected (<see cref="Plan.Alternatives"/>, for <c>--explain</c>): a few
    /// more searches, so off by default.
    /// </summary>
    public bool Explain { get; init; }

    /// <summary>Bytes per activation element between stages: 2 for f16 (default), 4 for f32, 1 for q8.</summary>
    public int ActivationBytesPerElement { get; init; } = 2;

    /// <summary>Devices to use when the model fits on them alone; others are used only when it does not.</summary>
    public IReadOnlyList<string> PreferredDevices { get; init; } = [];

    /// <summary>Devices never to use.</summary>
    public IReadOnlyList<string> ExcludedDevices { get; init; } = [];

    /// <summary>
    /// Fewest stages per pipeline (1 by default: as few as memory needs). More than one splits a model that would fit
    /// on one device, e.g. to spread it over the pool's machines or to test a pipeline; capped by the usable devices
    /// and the model's layers.
    /// </summary>
    public int MinStages { get; init; } = 1;

    /// <summary>Fraction of each device's free memory left unused (0.10 keeps 10% free for the OS and other programs).</summary>
    public double MemoryHeadroomFraction { get; init; } = 0.10;

    /// <summary>Throws <see cref="ArgumentException"/> with a message naming the bad field.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Model);
        Model.Validate();
        if (ContextLength < 1)
            throw new ArgumentException($"The context length must be at least 1 (got {ContextLength}).");
        if (MaxSessions < 1)
            throw new ArgumentException($"The number of sessions must be at least 1 (got {MaxSessions}).");
        if (Replicas < 1)
            throw new ArgumentException($"The number of replicas must be at least 1 (got {Replicas}).");
        if (PromptTokens < 0)
            throw new ArgumentException($"The prompt length must not be negative (got {PromptTokens}).");
        if (MinStages < 1)
            throw new ArgumentException($"The minimum number of stages must be at least 1 (got {MinStages}).");
        if (ActivationBytesPerElement < 1)
            throw new ArgumentException($"Activations need at least 1 byte per element (got {ActivationBytesPerElement}).");
        if (!(MemoryHeadroomFraction >= 0 && MemoryHeadroomFraction < 1))
            throw new ArgumentException($"The memory headroom must be a fraction in [0, 1) (got {MemoryHeadroomFraction}).");
    }
}
