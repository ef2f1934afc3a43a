using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Tessera.Cli.Bench;
using Tessera.Engine.Benchmarks;
using Tessera.Engine.Gpu;
using Tessera.Engine.Kernels;
using Tessera.Engine.Model;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera bench</c>: prefill and decode speed of a model, against this machine's memory bandwidth.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "The model: " + ModelArgument.Forms + " (default: the small synthetic model)." };
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
        var device = ComputeDeviceOption.Create();
        var deployment = new Option<string?>("--deployment", "-d") { Description = "Benchmark a deployment through its OpenAI-compatible API instead of a model file here." };
        var url = new Option<string?>("--url") { Description = "With --deployment: the API's base URL, e.g. https://127.0.0.1:7470/v1 (default: $TESSERA_API_URL)." };
        var apiKey = new Option<string?>("--api-key") { Description = "With --deployment: API key (default: $TESSERA_API_KEY)." };
        var caCert = new Option<string?>("--cacert") { Description = "With --deployment: PEM certificate to trust for an https endpoint (a pool's ca.crt)." };
        var streams = new Option<string>("--streams") { Description = "With --deployment: comma-separated numbers of concurrent streams, e.g. 1,8.", DefaultValueFactory = _ => "1,8" };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "With --deployment: prompt length of each stream.", DefaultValueFactory = _ => 16 };
        var jsonSchema = new Option<string?>("--json-schema")
        {
            Description = "Compare free and JSON-constrained decode (structured output): a JSON schema file, or 'object' for any JSON object.",
        };
        var grammarFile = new Option<string?>("--grammar-file") { Description = "Compare free and grammar-constrained decode: a GBNF grammar file." };
        var command = new Command("bench", "Measure prefill and decode tokens/s, memory bandwidth and decode efficiency on this machine; or, with --deployment, time to first token, per-token latency and aggregate tokens/s of concurrent streams through the API.")
        {
            model, threads, runs, decodeTokens, prefill, output, weights, device, deployment, url, apiKey, caCert, streams, promptTokens, jsonSchema, grammarFile,
        };
        command.SetAction((result, cancellation) => CliErrors.RunAsync(async () =>
        {
            if (result.GetValue(deployment) is { } name)
            {
                var baseUrl = result.GetValue(url) ?? Environment.GetEnvironmentVariable("TESSERA_API_URL")
                    ?? throw new ArgumentException("Give the endpoint with --url https://HOST:PORT/v1 (or set TESSERA_API_URL).");
                using var http = ApiTokenSource.CreateClient(baseUrl, result.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("TESSERA_API_KEY"), result.GetValue(caCert));
                var settings = new StreamBench.Settings(StreamBench.ParseCounts(result.GetValue(streams)!), Math.Max(1, result.GetValue(runs)),
                    Math.Max(1, result.GetValue(promptTokens)), Math.Max(2, result.GetValue(decodeTokens)), result.GetValue(output) == "json");
                var source = new ApiTokenSource(http, name);
                var reports = await StreamBench.RunAsync(source.GenerateAsync, ApiTokenSource.SafeVocabulary, settings, cancellation).ConfigureAwait(false);
                StreamBench.Print($"deployment {name} at {http.BaseAddress}", reports, settings.Json);
                return 0;
            }

            if (GrammarArgument.Resolve(result.GetValue(grammarFile), result.GetValue(jsonSchema)) is { } grammar)
            {
                var modelPath = await ModelArgument.ResolveAsync(result.GetValue(model), cancellation).ConfigureAwait(false);
                var asJson = result.GetValue(output) == "json";
                var constrained = ConstrainedDecodeBenchmark.Run(modelPath, grammar, result.GetValue(threads), Math.Max(1, result.GetValue(runs)),
                    Math.Max(2, result.GetValue(decodeTokens)), asJson ? null : message => Console.Error.WriteLine(message));
                if (asJson)
                    Console.WriteLine(JsonSerializer.Serialize(constrained, CliJson.Options));
                else
                    Print(constrained);
                return 0;
            }

            var lengths = result.GetValue(prefill)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
            var options = new ModelBenchmarkOptions(result.GetValue(threads), Math.Max(1, result.GetValue(runs)), Math.Max(2, result.GetValue(decodeTokens)), lengths,
                Enum.Parse<WeightStorage>(result.GetValue(weights)!, ignoreCase: true), result.GetValue(device)!, DeviceBackendFactory.Instance);
            var path = await ModelArgument.ResolveAsync(result.GetValue(model), cancellation).ConfigureAwait(false);
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

    private static void Print(ConstrainedDecodeReport r)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("decode").AddColumn(new TableColumn("median").RightAligned()).AddColumn("runs");
        table.AddRow("free", $"{r.FreeTokensPerSecond:F1} t/s", string.Join(" ", r.FreeRuns.Select(x => x.ToString("F1"))));
        table.AddRow("constrained", $"{r.ConstrainedTokensPerSecond:F1} t/s", string.Join(" ", r.ConstrainedRuns.Select(x => x.ToString("F1"))));
        table.AddRow("constrained / free", $"{r.Ratio:F2}", "");
        table.AddRow("first draws refused", $"{r.RefusedShare:P0}", "");
        table.AddRow("sampling, free / constrained", $"{r.FreeSamplingMicroseconds:F0} / {r.ConstrainedSamplingMicroseconds:F0} us", "");
        table.AddRow("grammar's share of a token's time", $"{r.GrammarShareOfToken:P1}", "");
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(r.Model)}[/] ({Markup.Escape(r.Backend)}, up to {r.MaxTokens} tokens per run)");
        AnsiConsole.Write(table);
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
