using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Tessera.Cli.Bench;
using Tessera.Cli.Commands.Chaos;
using Tessera.Deploy;
using Tessera.Pool;
using Tessera.Pool.Client;

namespace Tessera.Cli.Commands;

/// <summary>
/// <c>tessera plan check</c>: how far the planner's predictions are from what the same placements do. A pool of agents on
/// network-namespace hosts of their own (links slowed and made jittery by the link emulator when asked), for each link
/// setting and stage count: the plan (<c>POST /api/plans</c>), a deployment with exactly that placement, then a single
/// stream measured through the API; predicted against measured, and the error.
/// </summary>
internal static class PlanCheckCommand
{
    public sealed record Row(string Links, int Stages, string Placement, double PredictedTokensPerSecond, double MeasuredTokensPerSecond,
        double ErrorPercent, double PredictedTokenP50Ms, double PredictedTokenP99Ms, double MeasuredTokenP50Ms, double MeasuredTokenP99Ms,
        double PredictedTimeToFirstTokenMs, double MeasuredTimeToFirstTokenMs);

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF model (default: the synthetic TinyLlama-shaped model the demo uses)." };
        var stages = new Option<string>("--stages") { Description = "Stage counts to plan and measure, e.g. 1,2,3 (the pool gets as many agents as the largest).", DefaultValueFactory = _ => "1,2,3" };
        var links = new Option<string>("--link-delay")
        {
            Description = "Link settings between agents, comma-separated: none, or DELAY[:JITTER] as for chaos (e.g. none,10ms:2ms,40ms:10ms).",
            DefaultValueFactory = _ => "none,20ms:5ms",
        };
        var runs = new Option<int>("--runs") { Description = "Measured runs per case (the median is kept), after one warm-up.", DefaultValueFactory = _ => 3 };
        var decodeTokens = new Option<int>("--decode-tokens") { Description = "Tokens generated per run.", DefaultValueFactory = _ => 64 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length of each run: the time to first token is predicted and measured for it.", DefaultValueFactory = _ => 128 };
        var threads = new Option<int>("--threads") { Description = "Compute threads per stage.", DefaultValueFactory = _ => 1 };
        var dataDir = new Option<string?>("--data-dir") { Description = "Folder for the pool's data and logs (default: ~/.tessera/plan-check, emptied first)." };
        var output = PoolCli.OutputOption();
        var command = new Command("check", "Measure how far the planner's predictions are from real runs: agents on network-namespace hosts (needs root, iproute2; " +
            "iptables for --link-delay), each stage count planned, deployed with that placement and measured.");
        foreach (var option in new Option[] { model, stages, links, runs, decodeTokens, promptTokens, threads, dataDir, output })
            command.Options.Add(option);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            var counts = StreamBench.ParseCounts(result.GetValue(stages)!);
            if (counts.Max() > 8)
                throw new PoolException("--stages goes up to 8 (one agent per stage on this machine).", exitCode: 2);
            var settings = result.GetValue(links)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(text => (Text: text, Delay: ParseLinks(text)))
                .ToList();
            var why = settings.Any(s => s.Delay is not null) ? VirtualHosts.NatUnavailable() : VirtualHosts.Unavailable();
            if (why is not null)
                throw new PoolException($"plan check needs network namespaces: {why}.", exitCode: 2);
            var modelPath = Path.GetFullPath(result.GetValue(model) ?? DefaultModel.EnsureExists());
            var root = Path.GetFullPath(result.GetValue(dataDir) ?? Path.Combine(DefaultModel.Home, "plan-check"));
            var bench = new StreamBench.Settings([1], Math.Max(1, result.GetValue(runs)), Math.Max(1, result.GetValue(promptTokens)), Math.Max(8, result.GetValue(decodeTokens)), Json: false);
            using var stopping = PoolCli.OnStopSignal(ct);
            var rows = new List<Row>();
            foreach (var (text, delay) in settings)
                rows.AddRange(await CheckAsync(root, modelPath, text, delay, counts, result.GetValue(threads), bench, stopping.Token).ConfigureAwait(false));
            if (result.GetValue(output) == "json")
                PoolCli.WriteJson(rows);
            else
                Print(rows);
            return 0;
        }));
        return command;
    }

    private static (TimeSpan Delay, TimeSpan Jitter)? ParseLinks(string text) => text == "none"
        ? null
        : LinkDelaySpec.TryParse(text) ?? throw new PoolException($"--link-delay takes none or {LinkDelaySpec.Rule}; not '{text}'.", exitCode: 2);

    private static async Task<List<Row>> CheckAsync(string root, string model, string linksText, (TimeSpan Delay, TimeSpan Jitter)? delay, int[] counts, int threads,
        StreamBench.Settings bench, CancellationToken cancellationToken)
    {
        Console.Error.WriteLine($"Links {linksText}: starting a pool of {counts.Max()} agents on hosts of their own ...");
        await using var pool = await ChaosPool.StartAsync(root, counts.Max(), namespaces: true, cancellationToken, delay).ConfigureAwait(false);
        using (var admin = PoolApiClient.Create(pool.CoordinatorDirectory, null, null, TimeProvider.System, TimeSpan.FromMinutes(2)))
        {
            // A link's jitter counts once it showed in every one of its last three measurements (docs/planner.md).
            for (var round = 0; round < 3; round++)
                await admin.MeasureLinksAsync(cancellationToken).ConfigureAwait(false);
        }
        using var api = DeployClient.Create(pool.CoordinatorDirectory, null, null, TimeSpan.FromMinutes(2));
        var info = CoordinatorInfo.TryLoad(pool.CoordinatorDirectory.CoordinatorInfo) ?? throw new PoolException($"No coordinator.json in {pool.CoordinatorDirectory.Root}.");
        using var http = ApiTokenSource.CreateClient(info.ApiUrl.TrimEnd('/') + "/v1", await pool.CreateApiKeyAsync(cancellationToken).ConfigureAwait(false),
            pool.CoordinatorDirectory.CaCertificate);
        var rows = new List<Row>();
        foreach (var stages in counts)
        {
            var request = new DeploymentRequest(model, ChaosPool.DeploymentName, Context: 512, MaxSessions: 1, Activations: "f16", MinStages: stages, Threads: threads);
            var plan = await api.PlanAsync(request, new PlanQuery(bench.PromptTokens), cancellationToken).ConfigureAwait(false);
            var placement = string.Join(',', plan.Stages.Select(s => $"{s.NodeName}{(s.Device == "cpu" ? "" : "/" + s.Device)}:{s.FirstLayer}-{s.LastLayer}"));
            Console.Error.WriteLine($"  {plan.Stages.Count} stage(s), {placement}: predicted {plan.SingleStreamTokensPerSecond:0.0} tokens/s; deploying and measuring ...");
            await pool.DeployAsync(request with { MinStages = null, Placement = placement }, cancellationToken).ConfigureAwait(false);
            var report = (await StreamBench.RunAsync(new ApiTokenSource(http, ChaosPool.DeploymentName).GenerateAsync, ApiTokenSource.SafeVocabulary, bench,
                cancellationToken).ConfigureAwait(false))[0];
            await api.DeleteAsync(ChaosPool.DeploymentName, cancellationToken).ConfigureAwait(false);
            var predicted = plan.SingleStreamTokensPerSecond;
            var measured = report.StreamDecodeTokensPerSecond;
            rows.Add(new Row(linksText, plan.Stages.Count, placement, predicted, measured, measured > 0 ? (predicted - measured) / measured * 100 : 0,
                plan.TokenLatencyP50Milliseconds, plan.TokenLatencyP99Milliseconds, report.TokenLatencyP50Ms, report.TokenLatencyP99Ms,
                plan.TimeToFirstTokenSeconds * 1000, report.TimeToFirstTokenP50Ms));
            // The stages stop in the background; the next deployment must not find their memory still taken.
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        }
        return rows;
    }

    private static void Print(IReadOnlyList<Row> rows)
    {
        var table = new Table().AddColumns("Links", "Stages", "Placement", "Predicted tokens/s", "Measured tokens/s", "Error", "Predicted token p50 / p99", "Measured token p50 / p99", "First token: predicted / measured");
        foreach (var r in rows)
        {
            table.AddRow(Markup.Escape(r.Links), r.Stages.ToString(CultureInfo.InvariantCulture), Markup.Escape(r.Placement),
                r.PredictedTokensPerSecond.ToString("0.0", CultureInfo.InvariantCulture), r.MeasuredTokensPerSecond.ToString("0.0", CultureInfo.InvariantCulture),
                r.ErrorPercent.ToString("+0;-0", CultureInfo.InvariantCulture) + " %",
                $"{r.PredictedTokenP50Ms.ToString("0.0", CultureInfo.InvariantCulture)} / {r.PredictedTokenP99Ms.ToString("0.0", CultureInfo.InvariantCulture)} ms",
                $"{r.MeasuredTokenP50Ms.ToString("0.0", CultureInfo.InvariantCulture)} / {r.MeasuredTokenP99Ms.ToString("0.0", CultureInfo.InvariantCulture)} ms",
                $"{r.PredictedTimeToFirstTokenMs.ToString("0", CultureInfo.InvariantCulture)} / {r.MeasuredTimeToFirstTokenMs.ToString("0", CultureInfo.InvariantCulture)} ms");
        }
        PoolCli.WriteTable(table);
        var errors = rows.Select(r => Math.Abs(r.ErrorPercent)).Order().ToList();
        if (errors.Count > 0)
            Console.WriteLine($"Median absolute error {errors[errors.Count / 2].ToString("0", CultureInfo.InvariantCulture)} % over {errors.Count} case(s); " +
                "positive: the planner predicted faster than measured.");
    }
}
