using System.Text.Json;
using Spectre.Console;
using Tessera.Cli.Commands;
using Tessera.Serving;

namespace Tessera.Cli.Bench;

/// <summary>
/// The shared part of <c>tessera bench --deployment</c> and <c>tessera stage bench</c>: for each stream count, several
/// runs of <see cref="PipelineBenchmark"/> (the median by aggregate tokens/s is kept), then a table or JSON.
/// </summary>
internal static class StreamBench
{
    public sealed record Settings(int[] StreamCounts, int Runs, int PromptTokens, int DecodeTokens, bool Json);

    public static Task<IReadOnlyList<PipelineBenchmarkReport>> RunAsync(PipelineBenchmark.TokenSource source, int vocabulary, Settings settings,
        CancellationToken cancellation) =>
        RunAsync(options => PipelineBenchmark.RunAsync(source, vocabulary, options, cancellation), settings);

    /// <summary>
    /// The same runs for any way of running one <see cref="PipelineBenchmarkOptions"/>, after one single-stream warm-up
    /// run of full length (discarded): the JIT's tiering and each process's first requests settle before anything counts.
    /// </summary>
    public static async Task<IReadOnlyList<PipelineBenchmarkReport>> RunAsync(Func<PipelineBenchmarkOptions, Task<PipelineBenchmarkReport>> run, Settings settings)
    {
        await run(new PipelineBenchmarkOptions(1, settings.PromptTokens, settings.DecodeTokens)).ConfigureAwait(false);
        var reports = new List<PipelineBenchmarkReport>();
        foreach (var count in settings.StreamCounts)
        {
            var all = new List<PipelineBenchmarkReport>();
            for (var r = 0; r < settings.Runs; r++)
                all.Add(await run(new PipelineBenchmarkOptions(count, settings.PromptTokens, settings.DecodeTokens, 1234 + r)).ConfigureAwait(false));
            reports.Add(Median(all));
        }
        return reports;
    }

    private static PipelineBenchmarkReport Median(List<PipelineBenchmarkReport> runs) =>
        runs.OrderBy(r => r.AggregateTokensPerSecond).ElementAt(runs.Count / 2);

    /// <summary>Stream counts from "1,8".</summary>
    public static int[] ParseCounts(string text)
    {
        var counts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, out var n) && n is >= 1 and <= 256 ? n : throw new ArgumentException($"--streams takes numbers from 1 to 256 separated by commas, not '{s}'."))
            .ToArray();
        return counts.Length > 0 ? counts : throw new ArgumentException("--streams needs at least one number, e.g. 1,8.");
    }

    public static void Print(string target, IReadOnlyList<PipelineBenchmarkReport> reports, bool json)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { target, reports }, CliJson.Options));
            return;
        }
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(target)}[/]");
        var table = new Table().Border(TableBorder.Rounded).AddColumns("streams", "TTFT p50", "TTFT p99", "token p50", "token p99", "aggregate", "per stream decode");
        foreach (var r in reports)
            table.AddRow($"{r.Streams}", $"{r.TimeToFirstTokenP50Ms:F1} ms", $"{r.TimeToFirstTokenP99Ms:F1} ms", $"{r.TokenLatencyP50Ms:F1} ms", $"{r.TokenLatencyP99Ms:F1} ms",
                $"{r.AggregateTokensPerSecond:F1} t/s", $"{r.StreamDecodeTokensPerSecond:F1} t/s");
        PoolCli.WriteTable(table);
    }
}
