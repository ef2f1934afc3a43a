namespace Tessera.Pool.Agent;

/// <summary>Why an agent stopped.</summary>
public enum AgentExitReason
{
    /// <summary>Asked to stop (Ctrl+C, SIGTERM, host shutdown).</summary>
    Stopped,
    /// <summary>The node was removed from the pool; the identity was retired.</summary>
    Removed,
    /// <summary>The coordinator refused the node's certificate; retrying cannot help.</summary>
    Refused,
}

public sealed record AgentExit(AgentExitReason Reason, string Message);
