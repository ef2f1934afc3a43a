using System.Diagnostics.CodeAnalysis;

namespace Tessera.Planner;

/// <summary>Either a <see cref="Plan"/> or the <see cref="PlanFailure"/> that explains why there is none.</summary>
public sealed class PlanResult
{
    private PlanResult(Plan? plan, PlanFailure? failure)
    {
        Plan = plan;
        Failure = failure;
    }

    public Plan? Plan { get; }

    public PlanFailure? Failure { get; }

    [MemberNotNullWhen(true, nameof(Plan))]
    [MemberNotNullWhen(false, nameof(Failure))]
    public bool Succeeded => Plan is not null;

    public static PlanResult Success(Plan plan) => new(plan ?? throw new ArgumentNullException(nameof(plan)), null);

    public static PlanResult Fail(PlanFailure failure) => new(null, failure ?? throw new ArgumentNullException(nameof(failure)));

    /// <summary>The plan, or <see cref="PlanFailedException"/> carrying the failure.</summary>
    public Plan GetPlanOrThrow() => Succeeded ? Plan : throw new PlanFailedException(Failure);

    public override string ToString() => Succeeded ? Plan.Describe() : Failure.Message;
}
