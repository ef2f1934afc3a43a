using Tessera.Pool.Protocol;

namespace Tessera.Pool.Agent;

/// <summary>Several command handlers as one: a command goes to the first that knows it; snapshots are joined.</summary>
public sealed class CombinedCommandHandler(params IAgentCommandHandler[] handlers) : IAgentCommandHandler
{
    public void Attach(Func<AgentMessage, CancellationToken, Task> send)
    {
        foreach (var handler in handlers)
            handler.Attach(send);
    }

    public async Task<CommandResult?> HandleAsync(Command command, CancellationToken cancellationToken)
    {
        foreach (var handler in handlers)
        {
            if (await handler.HandleAsync(command, cancellationToken).ConfigureAwait(false) is { } result)
                return result;
        }
        return null;
    }

    public IReadOnlyList<AgentMessage> Snapshot() => [.. handlers.SelectMany(h => h.Snapshot())];
}
