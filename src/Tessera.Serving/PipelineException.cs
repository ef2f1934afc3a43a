using Tessera.Engine.Generation;
using Tessera.Generation;

namespace Tessera.Serving;

/// <summary>A pipeline could not run a session: a stage is unreachable, failed, or refused the session. The message says which and why.</summary>
public sealed class PipelineException(string message, Exception? inner = null) : Exception(message, inner), IRetryableError
{
    /// <summary>True when the same request may succeed if sent again (the pipeline failed and could not be recovered in time).</summary>
    public bool IsRetryable { get; init; }

    /// <summary>The stage (HOST:PORT) that could not be reached, when that is what failed.</summary>
    public string? Endpoint { get; init; }

    /// <summary>When to send a retryable request again (the pool re-plans in the background meanwhile).</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The message names stages and addresses of the pool; API clients get only this.</summary>
    public string ClientMessage => "The model's pipeline lost a stage and is being repaired; retry in a few seconds.";
}
