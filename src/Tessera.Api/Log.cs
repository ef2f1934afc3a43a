using Microsoft.Extensions.Logging;

namespace Tessera.Api;

internal static partial class Log
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Error, Message = "{Method} {Path} failed")]
    public static partial void LogRequestFailed(this ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Error, Message = "Generation failed while streaming {Id}")]
    public static partial void LogStreamFailed(this ILogger logger, Exception exception, string id);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "{Method} {Path}: answered 503 (retry): {Detail}")]
    public static partial void LogRequestRetryable(this ILogger logger, string method, string path, string detail);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Debug, Message = "{Id}: client went away; generation cancelled")]
    public static partial void LogClientGone(this ILogger logger, string id);
}
