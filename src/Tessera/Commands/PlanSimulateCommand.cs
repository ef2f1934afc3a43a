using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;
using Tessera.Planner.Simulation;

namespace Tessera.Cli.Commands;

/// <summary>
/// <c>tessera plan simulate</c>: Tessera's planner and three baselines on drawn pools of 10 to 10,000 machines over a
/// simulated day (Tessera.Planner.Simulation does the work; this prints the tables and writes the files).
/// </summary>
internal static class PlanSimulateCommand
{
    private static readonly JsonSerializerOptions Json = new(PoolCli.Json) { Converters = { new JsonStringEnumConverter() } };

    internal static Command Create()
    {
        var nodes = new Option<string>("--nodes") { Description = "Pool sizes, comma-separated.", DefaultValueFactory = _ => "10,100,1000,10000" };
        var model = new Option<string>("--model") { Description = "Models, comma-separated: 7b, 70b, 405b, moe (Mixtral 8x22B).", DefaultValueFactory = _ => "70b" };
        var quant = new Option<string>("--quant") { Description = "Weight format: q4 (Q4_K_M), q8 (Q8_0) or f16.", DefaultValueFactory = _ => "q4" };
        quant.AcceptOnlyFromAmong("q4", "q8", "f16");
        var catalog = new Option<string>("--catalog") { Description = "Machines the pools are drawn from: home, lab, mixed or cloud.", DefaultValueFactory = _ => "mixed" };
        catalog.AcceptOnlyFromAmong("home", "lab", "mixed", "cloud");
        var seed = new Option<int>("--seed") { Description = "Seed of the pools and their failures: the same seed gives the same output.", DefaultValueFactory = _ => 1 };
        var hours = new Option<double>("--hours") { Description = "Simulated time of departures and returns.", DefaultValueFactory = _ => 24 };
        var context = new Option<int>("--context") { Description = "Context length of every session's KV cache.", DefaultValueFactory = _ => 4096 };
        var sessions = new Option<int>("--sessions") { Description = "Sessions each pipeline holds at once.", DefaultValueFactory = _ => 4 };
        var replicas = new Option<string>("--replicas")
        {
            Description = "Replicas Tessera's planner places, or auto: it chooses (the baselines run one pipeline or one swarm).",
            DefaultValueFactory = _ => "auto",
        };
        var churn = new Option<double>("--churn") { Description = "Multiplies every machine's departure rate (0: no failures).", DefaultValueFactory = _ => 1 };
        var outDir = new Option<string?>("--out") { Description = "Folder for the SVG plots and report.json (none: no files)." };
        var output = PoolCli.OutputOption();
        var command = new Command("simulate",
            "Simulate pools of 10 to 10,000 machines (home, lab, cloud or mixed, from public specifications) and compare Tessera's " +
            "planner with llama.cpp RPC, exo and Petals on them: tokens/s single-stream and saturated, machines used, and tokens " +
            "lost to failures over a simulated day with re-plans. See docs/planner-simulation.md.")
        {
            nodes, model, quant, catalog, seed, hours, context, sessions, replicas, churn, outDir, output,
        };
        command.SetAction(result => CliErrors.Run(() =>
        {
            var (replicaCount, autoReplicas) = PlanningOptions.ParseReplicas(result.GetValue(replicas));
            var settings = new SimulationSettings
            {
                NodeCounts = ParseCounts(result.GetValue(nodes)!),
                Models = result.GetValue(model)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(ModelCatalog.ParseSize).ToList(),
                Quantization = ModelCatalog.ParseQuant(result.GetValue(quant)!),
                Catalog = Enum.Parse<PoolCatalog>(result.GetValue(catalog)!, ignoreCase: true),
                Seed = result.GetValue(seed),
                Hours = result.GetValue(hours),
                ContextLength = result.GetValue(context),
                Sessions = result.GetValue(sessions),
                Replicas = replicaCount ?? 1,
                AutoReplicas = autoReplicas == true,
                ChurnScale = result.GetValue(churn),
            };
            return Run(settings, result.GetValue(outDir), result.GetValue(output)!);
        }));
        return command;
    }

    private static List<int> ParseCounts(string text)
    {
        var counts = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part.Replace("_", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                throw new ArgumentException($"--nodes takes whole numbers separated by commas (got '{part}').");
            counts.Add(n);
        }
        return counts;
    }

    private static int Run(SimulationSettings settings, string? outDir, string output)
    {
        var clock = Stopwatch.StartNew();
        // Progress and run time go to stderr: stdout stays the same bytes for the same seed.
        var report = SimulationRunner.Run(settings, p => Console.Error.WriteLine(
            $"{p.Model}: {p.Nodes:N0} machines ({p.Devices:N0} devices, {p.Departures:N0} departures) done at {clock.Elapsed.TotalSeconds:0.0} s"));
        if (output == "json")
            Console.WriteLine(JsonSerializer.Serialize(report, Json));
        else
            WriteTables(report);
        if (outDir is not null)
        {
            Directory.CreateDirectory(outDir);
            foreach (var (name, svg) in SimulationCharts.Render(report))
                File.WriteAllText(Path.Combine(outDir, name), svg);
            File.WriteAllText(Path.Combine(outDir, "report.json"), JsonSerializer.Serialize(report, Json));
            Console.Error.WriteLine($"Plots and report.json written to {outDir}");
        }
        Console.Error.WriteLine($"Simulated in {clock.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }

    private static void WriteTables(SimulationReport report)
    {
        var s = report.Settings;
        foreach (var group in report.Pools.GroupBy(p => p.Model))
        {
            var first = group.First();
            Console.WriteLine($"{group.Key} ({first.ModelGigabytes:0.#} GB), {s.Catalog.ToString().ToLowerInvariant()} pools, seed {s.Seed}, " +
                $"{s.ContextLength} tokens x {s.Sessions} sessions, {s.Hours:0.#} h simulated");
            var table = new Table().AddColumns("Machines", "System", "Single tok/s", "Saturated tok/s", "Token p99", "Machines used", "Hit by", "Down",
                "Tokens lost", "Lost", "Tok/s lost");
            foreach (var pool in group)
            {
                foreach (var o in pool.Outcomes)
                {
                    var label = SystemKinds.Label(o.System);
                    if (!o.Fits)
                    {
                        table.AddRow(pool.Nodes.ToString("N0", CultureInfo.InvariantCulture), label, "does not fit", Markup.Escape(o.Failure ?? ""), "", "", "", "", "", "", "");
                        continue;
                    }
                    table.AddRow(
                        pool.Nodes.ToString("N0", CultureInfo.InvariantCulture),
                        label,
                        Rate(o.SingleStreamTokensPerSecond),
                        Rate(o.SaturatedTokensPerSecond),
                        o.TokenLatencyP99Milliseconds.ToString("0.0", CultureInfo.InvariantCulture) + " ms",
                        $"{o.NodesUsed:N0} ({o.FractionOfNodesUsed * 100:0.##} %)",
                        o.Disruptions.ToString("N0", CultureInfo.InvariantCulture),
                        (o.DownSeconds / 3600).ToString("0.00", CultureInfo.InvariantCulture) + " h",
                        SvgChart.Number(o.TokensLost),
                        (o.FractionLost * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %",
                        Rate(o.TokensPerSecondLost));
                }
            }
            PoolCli.WriteTable(table);
        }
        Console.WriteLine("Hit by: departures that cost the system its pipeline or capacity. Down: time serving nothing. " +
            "Lost: tokens the starting rate would have served, less those served, at saturation.");
    }

    private static string Rate(double tokensPerSecond) => tokensPerSecond >= 100
        ? tokensPerSecond.ToString("N0", CultureInfo.InvariantCulture)
        : tokensPerSecond.ToString("0.00", CultureInfo.InvariantCulture);
}
