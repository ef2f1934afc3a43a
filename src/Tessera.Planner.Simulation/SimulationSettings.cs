using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>What to simulate: pool sizes, models, catalogue, seed, length, and the request every system places.</summary>
public sealed record SimulationSettings
{
    public IReadOnlyList<int> NodeCounts { get; init; } = [10, 100, 1000, 10000];

    public IReadOnlyList<ModelSize> Models { get; init; } = [ModelSize.B70];

    public Quantization Quantization { get; init; } = Quantization.Q4;

    public PoolCatalog Catalog { get; init; } = PoolCatalog.Mixed;

    public int Seed { get; init; } = 1;

    public double Hours { get; init; } = 24;

    /// <summary>Context length of each session's KV cache.</summary>
    public int ContextLength { get; init; } = 4096;

    /// <summary>Sessions each pipeline holds at once.</summary>
    public int Sessions { get; init; } = 4;

    /// <summary>Replicas Tessera's planner places (the baselines run one pipeline or one swarm).</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>Tessera's planner chooses its replicas (<c>--replicas auto</c>, <see cref="PlanRequest.AutoReplicas"/>); <see cref="Replicas"/> is then ignored.</summary>
    public bool AutoReplicas { get; init; }

    /// <summary>Multiplies every machine's departure rate (0: no failures).</summary>
    public double ChurnScale { get; init; } = 1;

    public IReadOnlyList<SystemKind> Systems { get; init; } = SystemKinds.All;

    public void Validate()
    {
        if (NodeCounts.Count == 0 || NodeCounts.Any(n => n < 1 || n > 100_000))
            throw new ArgumentException("Pool sizes must be between 1 and 100,000 machines.");
        if (Models.Count == 0)
            throw new ArgumentException("Name at least one model.");
        if (Systems.Count == 0)
            throw new ArgumentException("Name at least one system.");
        if (!(Hours >= 0 && Hours <= 24 * 30))
            throw new ArgumentException($"The simulated time must be between 0 and 720 hours (got {Hours}).");
        if (!(ChurnScale >= 0))
            throw new ArgumentException($"The churn scale must be 0 or more (got {ChurnScale}).");
    }

    /// <summary>What every system is asked to place for <paramref name="model"/>.</summary>
    public PlanRequest Request(ModelProfile model, int replicas, bool autoReplicas = false) =>
        new() { Model = model, ContextLength = ContextLength, MaxSessions = Sessions, Replicas = replicas, AutoReplicas = autoReplicas };
}
