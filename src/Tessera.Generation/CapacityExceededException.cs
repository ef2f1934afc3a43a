namespace Tessera.Generation;

/// <summary>More sessions than the service can hold or queue.</summary>
public sealed class CapacityExceededException(TimeSpan retryAfter, string detail)
    : Exception($"The server is at capacity ({detail}); retry after {Math.Ceiling(retryAfter.TotalSeconds)} s.")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}
