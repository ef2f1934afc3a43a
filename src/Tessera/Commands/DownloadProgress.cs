using System.Collections.Concurrent;
using Spectre.Console;
using Tessera.Distribution;

namespace Tessera.Cli.Commands;

/// <summary>
/// The progress bars of downloads on stderr (stdout stays the command's output): one bar per file reported (a split
/// model's parts each get theirs), with bytes, rate and time left.
/// </summary>
internal static class DownloadProgress
{
    /// <summary>A console on stderr, for the bars and the messages around them.</summary>
    public static IAnsiConsole ErrorConsole() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    /// <summary>Runs <paramref name="action"/> with a progress that draws a bar per file it reports.</summary>
    public static async Task<T> RunAsync<T>(IAnsiConsole console, Func<IProgress<TransferProgress>, Task<T>> action)
    {
        T result = default!;
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var tasks = new ConcurrentDictionary<string, ProgressTask>(StringComparer.Ordinal);
                var progress = new InlineProgress(p =>
                {
                    var task = tasks.GetOrAdd(p.What, what => ctx.AddTask(Markup.Escape(ShortName(what)), maxValue: 1));
                    if (p.TotalBytes > 0)
                        task.MaxValue = p.TotalBytes;
                    task.Value = p.BytesDone;
                });
                result = await action(progress).ConfigureAwait(false);
                foreach (var task in tasks.Values)
                {
                    task.MaxValue = Math.Max(1, task.MaxValue);
                    task.Value = task.MaxValue;
                }
            }).ConfigureAwait(false);
        return result;
    }

    private static string ShortName(string what)
    {
        var slash = what.LastIndexOf('/');
        return slash >= 0 && slash < what.Length - 1 ? what[(slash + 1)..] : what.Length > 24 ? what[..24] + "…" : what;
    }

    private sealed class InlineProgress(Action<TransferProgress> report) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => report(value);
    }
}
