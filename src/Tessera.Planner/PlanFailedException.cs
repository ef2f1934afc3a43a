namespace Tessera.Planner;

/// <summary>Thrown by <see cref="PlanResult.GetPlanOrThrow"/>; its message is the failure's, fit to show a user.</summary>
public sealed class PlanFailedException(PlanFailure failure) : Exception(failure.Message)
{
    public PlanFailure Failure { get; } = failure;
}
