using Tessera.Pool.Protocol;

namespace Tessera.Pool.Control;

/// <summary>The coordinator refused an agent's stream: why, in a code the agent acts on and a sentence for people.</summary>
public sealed class AgentRefusedException(RefusalCode code, string message) : Exception(message)
{
    public RefusalCode Code { get; } = code;

    /// <summary>Whether joining again is the only way back (the agent stops instead of retrying).</summary>
    public bool IsFinal => Code is RefusalCode.Unauthenticated or RefusalCode.PermissionDenied;
}
