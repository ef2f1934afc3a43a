using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Tessera.Engine.Benchmarks;
using Tessera.Engine.Kernels;
using Tessera.Engine.Model;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera bench</c>: prefill and decode speed of a model, against this machine's memory bandwidth.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF model file (default: the small synthetic model)." };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (default: all cores).", DefaultValueFactory = _ => 0 };
        var runs = new Option<int>("--runs", "-r") { Description = "Runs of each measurement; the median is reported.", DefaultValueFactory = _ => 5 };
        var decodeTokens = new Option<int>("--decode-tokens") { Description = "Tokens per decode run.", DefaultValueFactory = _ => 64 };
        var prefill = new Option<string>("--prefill") { Description = "Comma-separated prompt lengths to time.", DefaultValueFactory = _ => "128,512" };
        var output = new Option<string>("--output", "-o") { DefaultValueFactory = _ => "table" };
        output.AcceptOnlyFromAmong("table", "json");
        var weights = new Option<string>("--weights")
        {
            Description = "Where matrices live: copy (huge pages, faster decode) or map (read from the file's memory map). Default: copy, or TESSERA_WEIGHTS.",
            DefaultValueFactory = _ => "auto",
        };
        weights.AcceptOnlyFromAmong("auto", "copy", "map");
        var command = new Command("bench", "Measure prefill and decode tokens/s, memory bandwidth and decode efficiency on this machine.")
        {
            model, threads, runs, decodeTokens, prefill, output, weights,
        };
        command.SetAction(result => CliErrors.Run(() =>
        {
            var lengths = result.GetValue(prefill)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
            var options = new ModelBenchmarkOptions(result.GetValue(threads), Math.Max(1, result.GetValue(runs)), Math.Max(2, result.GetValue(decodeTokens)), lengths,
                Enum.Parse<WeightStorage>(result.GetValue(weights)!, ignoreCase: true));
            var path = result.GetValue(model) ?? DefaultModel.EnsureExists();
            var json = result.GetValue(output) == "json";
            var report = ModelBenchmark.Run(path, options, json ? null : message => Console.Error.WriteLine(message));
            if (json)
                Console.WriteLine(JsonSerializer.Serialize(report, CliJson.Options));
            else
                Print(report);
            return 0;
        }));
        return command;
    }

    private static void Print(ModelBenchmarkReport r)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("measure").AddColumn(new TableColumn("median").RightAligned()).AddColumn("runs");
        foreach (var p in r.Prefill)
            table.AddRow($"prefill {p.Tokens} tokens", $"{p.TokensPerSecond:F1} t/s", string.Join(" ", p.Runs.Select(x => x.ToString("F1"))));
        table.AddRow($"decode ({r.DecodeTokens} tokens)", $"{r.DecodeTokensPerSecond:F1} t/s", string.Join(" ", r.DecodeRuns.Select(x => x.ToString("F1"))));
        table.AddRow("memory read bandwidth", $"{r.BandwidthGBps:F1} GB/s", string.Join(" ", r.BandwidthRuns.Select(x => x.ToString("F1"))));
        table.AddRow("weight bytes per token", Format.Bytes(r.WeightBytesPerToken), "");
        table.AddRow("decode bandwidth bound", $"{r.BandwidthBoundTokensPerSecond:F1} t/s", "");
        table.AddRow("decode efficiency", $"{r.DecodeEfficiency:P0}", "");
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(r.Model)}[/] ({Markup.Escape(r.Backend)}, weights {r.Weights.ToString().ToLowerInvariant()})");
        AnsiConsole.Write(table);
    }
}
