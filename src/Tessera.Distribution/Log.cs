using Microsoft.Extensions.Logging;

namespace Tessera.Distribution;

/// <summary>Source-generated log messages of the distribution library; every method accepts a null logger.</summary>
internal static partial class Log
{
    public static void Published(ILogger? logger, string hash, long size)
    {
        if (logger != null)
            LogPublished(logger, hash, size);
    }

    public static void Evicted(ILogger? logger, string hash, long size)
    {
        if (logger != null)
            LogEvicted(logger, hash, size);
    }

    public static void ChecksumMismatch(ILogger? logger, string what, string expected, string actual)
    {
        if (logger != null)
            LogChecksumMismatch(logger, what, expected, actual);
    }

    public static void ChunkFailed(ILogger? logger, int chunk, string source, string reason)
    {
        if (logger != null)
            LogChunkFailed(logger, chunk, source, reason);
    }

    public static void DownloadRetry(ILogger? logger, string what, long offset, int attempt, string reason)
    {
        if (logger != null)
            LogDownloadRetry(logger, what, offset, attempt, reason);
    }

    public static void Imported(ILogger? logger, string source, string hash, string how)
    {
        if (logger != null)
            LogImported(logger, source, hash, how);
    }

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Imported {Source} as sha256:{Hash} {How}")]
    private static partial void LogImported(ILogger logger, string source, string hash, string how);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Published sha256:{Hash} ({Size} bytes) to the content store")]
    private static partial void LogPublished(ILogger logger, string hash, long size);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Evicted sha256:{Hash} ({Size} bytes), least recently used")]
    private static partial void LogEvicted(ILogger logger, string hash, long size);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{What}: checksum mismatch, expected {Expected}, got {Actual}")]
    private static partial void LogChecksumMismatch(ILogger logger, string what, string expected, string actual);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Chunk {Chunk} from {Source} failed: {Reason}")]
    private static partial void LogChunkFailed(ILogger logger, int chunk, string source, string reason);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "{What}: interrupted at byte {Offset}, resuming (attempt {Attempt}): {Reason}")]
    private static partial void LogDownloadRetry(ILogger logger, string what, long offset, int attempt, string reason);
}
