using Microsoft.Extensions.Logging;

namespace Tessera.Cli.Commands;

/// <summary>
/// What a long-running command tells its user while it runs (the pool's banner, the URL it serves at, that it stops):
/// plain lines on stdout with text logs; with JSON logs, messages of the category <c>Tessera.Cli</c>, so that everything
/// the command writes is one JSON object per line.
/// </summary>
internal sealed partial class CommandOutput(LogFormat format, ILoggerFactory logging)
{
    private readonly ILogger _logger = logging.CreateLogger("Tessera.Cli");

    /// <summary>A line for the user; an empty one only spaces text output out.</summary>
    public void Line(string text = "")
    {
        if (format == LogFormat.Text)
            Console.WriteLine(text);
        else if (!string.IsNullOrWhiteSpace(text))
            LogLine(_logger, text.Trim());
    }

    /// <summary>An error that ends the command: "error: ..." on stderr, or a log message at level Error.</summary>
    public void Error(string text)
    {
        if (format == LogFormat.Text)
            Console.Error.WriteLine("error: " + text);
        else
            LogError(_logger, text);
    }

    /// <summary>
    /// An error that ended a command run with JSON logs, as one JSON log line: the command's own logging is gone by the
    /// time the error reaches the code that reports it, so this makes (and flushes) logging of its own.
    /// </summary>
    public static void JsonError(string text)
    {
        using var logging = PoolCli.CreateLogging(verbose: false, LogFormat.Json);
        new CommandOutput(LogFormat.Json, logging).Error(text);
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Information, Message = "{Text}")]
    private static partial void LogLine(ILogger logger, string text);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Error, Message = "{Text}")]
    private static partial void LogError(ILogger logger, string text);
}
