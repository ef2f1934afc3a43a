using Microsoft.Extensions.Logging;

namespace Tessera.Deploy;

internal static partial class DeployLog
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Stage {Index} of {Deployment} (layers {First}-{Last}) serves on {Endpoint}, computing on {Backend}")]
    public static partial void LogStageReady(this ILogger logger, int index, string deployment, int first, int last, string endpoint, string backend);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Stage {Index} of {Deployment} failed: {Error}")]
    public static partial void LogStageFailed(this ILogger logger, int index, string deployment, string error);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "Stage {Index} of {Deployment} stopped")]
    public static partial void LogStageStopped(this ILogger logger, int index, string deployment);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Information, Message = "Deployment {Name} ({Id}): {Stages} stages planned")]
    public static partial void LogDeploymentCreated(this ILogger logger, string name, string id, int stages);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Information, Message = "Deployment {Name} is ready: pipeline {Endpoints}")]
    public static partial void LogDeploymentReady(this ILogger logger, string name, string endpoints);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Warning, Message = "Deployment {Name}: {Problem}")]
    public static partial void LogDeploymentProblem(this ILogger logger, string name, string problem);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Information, Message = "Deployment {Name} removed")]
    public static partial void LogDeploymentRemoved(this ILogger logger, string name);

    [LoggerMessage(EventId = 4014, Level = LogLevel.Information, Message = "{Message}")]
    public static partial void LogDeploymentEvent(this ILogger logger, string message);

    [LoggerMessage(EventId = 4015, Level = LogLevel.Debug, Message = "Deployment {Name} keeps its plan: {Explanation}")]
    public static partial void LogPlanKept(this ILogger logger, string name, string explanation);

    [LoggerMessage(EventId = 4017, Level = LogLevel.Debug, Message = "Stage {Stage} on node {Node}: {Passes} decoding passes in {Seconds:F3} s read; {Sample}")]
    public static partial void LogStageCountersRead(this ILogger logger, string stage, string node, long passes, double seconds, string sample);

    [LoggerMessage(EventId = 4033, Level = LogLevel.Debug, Message = "Deployment {Name}: hops seen {Hops}")]
    public static partial void LogHopsObserved(this ILogger logger, string name, string hops);

    [LoggerMessage(EventId = 4016, Level = LogLevel.Information, Message = "Certificates revoked by the coordinator: {Count} (removed nodes); stages here refuse them")]
    public static partial void LogRevocations(this ILogger logger, int count);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Information, Message = "Link probe listens on {Endpoint}")]
    public static partial void LogLinkProbeListening(this ILogger logger, string endpoint);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Debug, Message = "Measured links to {Count} peers in {Seconds:F2} s")]
    public static partial void LogLinksMeasured(this ILogger logger, int count, double seconds);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Warning, Message = "Link measurement round failed: {Error}")]
    public static partial void LogLinkRoundFailed(this ILogger logger, string error);

    [LoggerMessage(EventId = 4030, Level = LogLevel.Information, Message = "Relay listens on {Endpoint} for port {Port} of node {Node}")]
    public static partial void LogRelayFront(this ILogger logger, string endpoint, int port, string node);

    [LoggerMessage(EventId = 4031, Level = LogLevel.Warning, Message = "Relay: connection for port {Port} of node {Node} dropped: {Reason}")]
    public static partial void LogRelayDropped(this ILogger logger, int port, string node, string reason);

    [LoggerMessage(EventId = 4032, Level = LogLevel.Warning, Message = "Relay dial-back to {Relay} for port {Port} failed: {Reason}")]
    public static partial void LogRelayDialFailed(this ILogger logger, string relay, int port, string reason);
}
