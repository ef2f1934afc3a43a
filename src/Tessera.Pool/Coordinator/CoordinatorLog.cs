using Microsoft.Extensions.Logging;

namespace Tessera.Pool.Coordinator;

internal static partial class CoordinatorLog
{
    [LoggerMessage(EventId = (int)PoolLogEvents.CoordinatorStarted, Level = LogLevel.Information, Message = "Coordinator of pool {PoolId} listening on {Endpoint}")]
    public static partial void LogCoordinatorStarted(this ILogger logger, string poolId, string endpoint);

    [LoggerMessage(EventId = (int)PoolLogEvents.NodeJoined, Level = LogLevel.Information, Message = "Node {NodeName} ({NodeId}) joined from {Address} with token {TokenId}")]
    public static partial void LogNodeJoined(this ILogger logger, string nodeName, string nodeId, string address, string tokenId);

    [LoggerMessage(EventId = (int)PoolLogEvents.JoinRefused, Level = LogLevel.Warning, Message = "Join from {Address} refused: {Verdict} (token {TokenId})")]
    public static partial void LogJoinRefused(this ILogger logger, string address, string verdict, string tokenId);

    [LoggerMessage(EventId = (int)PoolLogEvents.NodeConnected, Level = LogLevel.Information, Message = "Node {NodeName} ({NodeId}) connected from {Address}")]
    public static partial void LogNodeConnected(this ILogger logger, string nodeName, string nodeId, string address);

    [LoggerMessage(EventId = (int)PoolLogEvents.NodeDisconnected, Level = LogLevel.Information, Message = "Node {NodeId} disconnected: {Reason}")]
    public static partial void LogNodeDisconnected(this ILogger logger, string nodeId, string reason);

    [LoggerMessage(EventId = (int)PoolLogEvents.NodeStateChanged, Level = LogLevel.Information, Message = "Node {NodeName} ({NodeId}) {From} -> {To}: {Reason}")]
    public static partial void LogNodeStateChanged(this ILogger logger, string nodeName, string nodeId, string from, string to, string reason);

    [LoggerMessage(EventId = (int)PoolLogEvents.ConnectRefused, Level = LogLevel.Warning, Message = "Agent stream from {Address} refused: {Reason}")]
    public static partial void LogConnectRefused(this ILogger logger, string address, string reason);

    [LoggerMessage(EventId = (int)PoolLogEvents.CommandFailed, Level = LogLevel.Warning, Message = "Node {NodeId} could not run command {CommandId}: {Error}")]
    public static partial void LogCommandFailed(this ILogger logger, string nodeId, string commandId, string error);

    [LoggerMessage(EventId = (int)PoolLogEvents.HeartbeatFlushFailed, Level = LogLevel.Error, Message = "Writing heartbeats to the state store failed")]
    public static partial void LogHeartbeatFlushFailed(this ILogger logger, Exception exception);
}
