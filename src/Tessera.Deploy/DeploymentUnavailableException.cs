using Tessera.Engine.Generation;
using Tessera.Generation;

namespace Tessera.Deploy;

/// <summary>
/// A deployment exists but has no pipeline to serve it right now: it is deploying, or the coordinator restarted and
/// is reattaching to its running stages. Answered as 503 with Retry-After (not 404), so clients wait and retry.
/// </summary>
public sealed class DeploymentUnavailableException(string name)
    : Exception($"The deployment '{name}' is starting or reconnecting to its stages and cannot take requests yet; retry in a few seconds."), IRetryableError
{
    public string Name { get; } = name;

    public bool IsRetryable => true;

    public TimeSpan RetryAfter { get; } = TimeSpan.FromSeconds(1);

    public string ClientMessage => Message;
}
