namespace Tessera.Generation;

/// <summary>
/// An error that may pass: a service whose failure is transient (a pipeline lost a stage and could not be replaced in
/// time) marks it so, and front ends tell the client to retry (the OpenAI API answers 503 with
/// <see cref="RetryAfter"/>) instead of reporting a server error.
/// </summary>
public interface IRetryableError
{
    /// <summary>True when the same request may succeed if sent again.</summary>
    bool IsRetryable { get; }

    /// <summary>How long a client should wait before sending it again.</summary>
    TimeSpan RetryAfter { get; }

    /// <summary>
    /// What an API client is told: no internal detail (which machine, which address), since the client may be anyone
    /// with a key. The full message goes to the log.
    /// </summary>
    string ClientMessage { get; }
}
