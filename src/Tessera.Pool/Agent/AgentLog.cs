using Microsoft.Extensions.Logging;
using Tessera.Pool.Coordinator;

namespace Tessera.Pool.Agent;

internal static partial class AgentLog
{
    [LoggerMessage(EventId = (int)PoolLogEvents.AgentConnecting, Level = LogLevel.Debug, Message = "Connecting to the coordinator at {Address} (attempt {Attempt})")]
    public static partial void LogConnecting(this ILogger logger, string address, int attempt);

    [LoggerMessage(EventId = (int)PoolLogEvents.AgentConnected, Level = LogLevel.Information, Message = "Connected to pool {PoolId} at {Address} as node {NodeId}, state {State}")]
    public static partial void LogConnected(this ILogger logger, string poolId, string address, string nodeId, string state);

    [LoggerMessage(EventId = (int)PoolLogEvents.AgentConnectionLost, Level = LogLevel.Warning, Message = "Connection to the coordinator at {Address} lost ({Reason}); retrying in {DelayMs} ms")]
    public static partial void LogConnectionLost(this ILogger logger, string address, string reason, int delayMs);

    [LoggerMessage(EventId = (int)PoolLogEvents.AgentCommand, Level = LogLevel.Information, Message = "Command {CommandId} from the coordinator: {Kind}")]
    public static partial void LogCommand(this ILogger logger, string commandId, string kind);

    [LoggerMessage(EventId = (int)PoolLogEvents.AgentStopped, Level = LogLevel.Warning, Message = "Agent stopped: {Reason}")]
    public static partial void LogStopped(this ILogger logger, string reason);

    [LoggerMessage(EventId = (int)PoolLogEvents.AgentControlLinkUnavailable, Level = LogLevel.Information, Message = "The coordinator at {Address} does not offer the control link (an older version): using the gRPC stream instead")]
    public static partial void LogControlLinkUnavailable(this ILogger logger, string address);
}
