using Spectre.Console;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Generation;

namespace Tessera.Cli.Commands;

/// <summary>Turns the errors a user can cause into one clear line on stderr and an exit code, never a stack trace.</summary>
internal static class CliErrors
{
    public const int UserError = 2;

    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (IsUserError(e))
        {
            Report(e);
            return UserError;
        }
    }

    /// <param name="format">With <see cref="LogFormat.Json"/> (a long-running command's --log-format) the error is one JSON log line.</param>
    public static async Task<int> RunAsync(Func<Task<int>> action, LogFormat format = LogFormat.Text)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception e) when (IsUserError(e))
        {
            if (format == LogFormat.Json)
                CommandOutput.JsonError(e.Message);
            else
                Report(e);
            return UserError;
        }
    }

    private static bool IsUserError(Exception e) => e is GgufFormatException or ContextFullException or ArgumentException
        or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or NotSupportedException
        or FormatException or InvalidOperationException or IOException or Tessera.Engine.Gpu.GpuUnavailableException;

    private static void Report(Exception e)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        console.MarkupLine("[red]error:[/] " + Markup.Escape(e.Message));
    }
}
