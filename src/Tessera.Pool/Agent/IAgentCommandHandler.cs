using Tessera.Pool.Protocol;

namespace Tessera.Pool.Agent;

/// <summary>
/// Commands an agent runs beyond membership (deployments' stages), plugged into <see cref="AgentRunner"/> by the host.
/// Long work continues in the background and reports through the sender given to <see cref="Attach"/>.
/// </summary>
public interface IAgentCommandHandler
{
    /// <summary>
    /// Called once by the runner with a sender that writes to the current coordinator stream (messages sent while
    /// disconnected are dropped: <see cref="Snapshot"/> is resent after each reconnection).
    /// </summary>
    void Attach(Func<AgentMessage, CancellationToken, Task> send);

    /// <summary>Runs or starts <paramref name="command"/>; null when this handler does not know it. Must return quickly.</summary>
    Task<CommandResult?> HandleAsync(Command command, CancellationToken cancellationToken);

    /// <summary>Messages that describe the agent's current work, sent after every welcome.</summary>
    IReadOnlyList<AgentMessage> Snapshot();
}
