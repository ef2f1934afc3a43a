using System.Diagnostics.CodeAnalysis;

namespace Tessera.Planner;

/// <summary>The outcome of <see cref="PoolPlanner.Replan"/> or <see cref="PoolPlanner.Improve"/>.</summary>
public sealed record ReplanResult
{
    /// <summary>The plan to run from now on (the current one when nothing changes); null when nothing fits any more.</summary>
    public Plan? Plan { get; init; }

    /// <summary>Why no plan fits any more (the pool lost more memory than it can spare); null on success.</summary>
    public PlanFailure? Failure { get; init; }

    [MemberNotNullWhen(true, nameof(Plan))]
    [MemberNotNullWhen(false, nameof(Failure))]
    public bool Succeeded => Plan is not null;

    /// <summary>True when <see cref="Plan"/> differs from the plan passed in.</summary>
    public required bool Changed { get; init; }

    /// <summary>Layer ranges that change device.</summary>
    public IReadOnlyList<LayerMove> Moves { get; init; } = [];

    public int LayersMoved => Moves.Sum(m => m.Layers.Count);

    public long BytesMoved => Moves.Sum(m => m.Bytes);

    /// <summary>Predicted single-stream speed after / before (1.25 = 25% faster). For a re-plan after a loss, "before" is the old plan as predicted.</summary>
    public double SpeedRatio { get; init; } = 1;

    /// <summary>Predicted pace with many sessions (the slowest stage's) after / before; set by <see cref="PoolPlanner.Improve"/>.</summary>
    public double ThroughputRatio { get; init; } = 1;

    /// <summary>What happened and why, in words.</summary>
    public required string Explanation { get; init; }

    public override string ToString() => Explanation;
}
