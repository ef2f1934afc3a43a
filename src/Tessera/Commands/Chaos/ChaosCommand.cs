using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Tessera.Pool;
using Tessera.Pool.Client;
using Tessera.Pool.Security;
using Tessera.Serving;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>
/// <c>tessera chaos</c>: proves that a failure costs a pause, never a failed request or a different answer. It starts a
/// pool on this machine (a coordinator and agents as child processes on 127.0.0.1, or on network namespaces of their
/// own), deploys a model over several of them, takes each request's failure-free text first, then runs concurrent
/// streaming clients for a while as faults are injected one at a time: agents killed (SIGKILL) and started again and
/// the coordinator once, agents stopped (SIGSTOP) or slowed (a SIGSTOP/SIGCONT duty cycle), links between stages cut;
/// at the end it fires a burst beyond capacity. Reports requests started, completed, retried, failed and differing,
/// the pauses each kind of fault caused, what the pool did about each fault and without any (false alarms, also under
/// <c>--cpu-hog</c>) and throughput; exits with 1 when a target is missed (a failed or differing request, a fault the
/// pool did not heal from, an unbounded burst).
/// </summary>
internal static class ChaosCommand
{
    private static readonly string[] Prompts = ["Once upon a time", "The little dog", "In the morning the", "She opened the door and"];

    public static Command Create()
    {
        var agents = new Option<int>("--agents") { Description = "Agent processes to start (besides the coordinator, which runs none).", DefaultValueFactory = _ => 4 };
        var stages = new Option<int>("--stages") { Description = "Stages to split the model over; keep it below --agents so a spare can take a lost stage.", DefaultValueFactory = _ => 3 };
        var clients = new Option<int>("--clients", "-c") { Description = "Concurrent streaming clients.", DefaultValueFactory = _ => 3 };
        var duration = new Option<string>("--duration", "-t") { Description = "How long clients start requests, e.g. 60s or 5m.", DefaultValueFactory = _ => "60s" };
        var faults = new Option<string>("--faults", "-f") { Description = "Faults to inject, a comma list of kill, stop, slow, cut; all, or none (a run that counts false alarms). cut needs --namespaces; under the default it is skipped without.", DefaultValueFactory = _ => "all" };
        var namespaces = new Option<bool>("--namespaces") { Description = "Run each agent on a host of its own (a network namespace on a bridge; needs root and iproute2), so cut can cut the link between two stages." };
        var linkDelay = new Option<string?>("--link-delay") { Description = "With --namespaces: make every link between agents slow and jittery, e.g. 40ms or 40ms:20ms (round trip and ±jitter; emulated by a proxy per host, as these kernels may lack netem). The coordinator's links stay fast." };
        var cpuHog = new Option<int>("--cpu-hog") { Description = "Threads of busy loops beside the agents during the run: a loaded machine must cause no downs and no moves.", DefaultValueFactory = _ => 0 };
        var killEvery = new Option<string>("--kill-every", "-k", "--fault-every") { Description = "Time between faults (kills and the others).", DefaultValueFactory = _ => "10s" };
        var restartAfter = new Option<string>("--restart-after") { Description = "How long a killed agent stays dead before it is started again.", DefaultValueFactory = _ => "2s" };
        var noCoordinatorKill = new Option<bool>("--no-coordinator-kill") { Description = "Kill only agents (by default the middle kill is the coordinator's)." };
        var maxKills = new Option<int>("--max-kills", "--max-faults") { Description = "At most this many faults (kills and the others).", DefaultValueFactory = _ => 50 };
        var tokens = new Option<int>("--tokens", "-n") { Description = "Tokens per request.", DefaultValueFactory = _ => 32 };
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file to deploy (default: the small synthetic model of `tessera demo`)." };
        var activations = new Option<string>("--activations") { Description = "Activations between stages: f16 (default, as deploy), f32, or q8. With f16 and f32 the text does not depend on where the model is split, so every text must equal the reference; q8 rounds at each hop, so a re-plan that moves a split point may change the text.", DefaultValueFactory = _ => "f16" };
        var threads = new Option<int>("--threads") { Description = "Compute threads per stage.", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Seed of the killer's choices and of the seeded requests.", DefaultValueFactory = _ => 1 };
        var burst = new Option<int>("--burst") { Description = "Requests fired at once after the chaos, beyond capacity (0: none).", DefaultValueFactory = _ => 200 };
        var burstMemory = new Option<int>("--burst-memory-mb") { Description = "How much the coordinator's resident memory may grow during the burst.", DefaultValueFactory = _ => 256 };
        var dataDir = new Option<string?>("--data-dir") { Description = "Folder for the pool's state and logs, emptied first (default: chaos/ under $TESSERA_HOME or ~/.tessera)." };
        var output = PoolCli.OutputOption();
        var command = new Command("chaos", "Serve a model over local agent processes while agents are killed, stopped, slowed and cut off, and the coordinator killed; report failed and differing requests (targets: 0), the pauses and false alarms.");
        foreach (var option in new Option[] { agents, stages, clients, duration, faults, namespaces, linkDelay, cpuHog, killEvery, restartAfter, noCoordinatorKill, maxKills, tokens, model, activations, threads, seed, burst, burstMemory, dataDir, output })
            command.Options.Add(option);
        command.Subcommands.Add(LinkEmulator.CreateCommand());
        command.SetAction((result, invocationToken) => PoolCli.RunAsync(async () =>
        {
            var settings = new ChaosSettings(result.GetValue(agents), result.GetValue(stages), result.GetValue(clients), DurationParser.Parse(result.GetValue(duration)!),
                DurationParser.Parse(result.GetValue(killEvery)!), DurationParser.Parse(result.GetValue(restartAfter)!), !result.GetValue(noCoordinatorKill),
                result.GetValue(maxKills), result.GetValue(tokens), result.GetValue(activations)!, result.GetValue(threads), result.GetValue(seed),
                result.GetValue(burst), result.GetValue(burstMemory))
            {
                FaultsText = result.GetValue(faults)!,
                Namespaces = result.GetValue(namespaces),
                CpuHog = result.GetValue(cpuHog),
                LinkDelayText = result.GetValue(linkDelay),
            };
            settings.Validate();
            if (settings.Namespaces && VirtualHosts.Unavailable() is { } why)
                throw new PoolException($"--namespaces cannot work here: {why}.", exitCode: 2);
            var json = result.GetValue(output) == "json";
            var modelPath = Path.GetFullPath(result.GetValue(model) ?? DefaultModel.EnsureExists());
            if (!File.Exists(modelPath))
                throw new PoolException($"No model file {modelPath}.", exitCode: 2);
            var root = Path.GetFullPath(result.GetValue(dataDir) ?? Path.Combine(DefaultModel.Home, "chaos"));
            using var stopping = PoolCli.OnStopSignal(invocationToken);
            var report = await RunAsync(settings, modelPath, root, stopping.Token).ConfigureAwait(false);
            if (json)
                Console.WriteLine(JsonSerializer.Serialize(report, CliJson.Options));
            else
                Print(report, settings);
            return report.TargetsMet ? 0 : 1;
        }));
        return command;
    }

    private static void Log(string message) => Console.Error.WriteLine(message);

    private static async Task<ChaosReport> RunAsync(ChaosSettings settings, string modelPath, string root, CancellationToken cancellationToken)
    {
        var where = settings.Namespaces ? "hosts of their own (network namespaces on a bridge)" : "127.0.0.1";
        var links = settings.LinkDelay is { } d
            ? string.Create(CultureInfo.InvariantCulture, $", every link between agents {d.Delay.TotalMilliseconds:0.#} ± {d.Jitter.TotalMilliseconds:0.#} ms")
            : "";
        Log($"Starting a coordinator and {settings.Agents} agents on {where}{links} (state and logs in {root}) ...");
        await using var pool = await ChaosPool.StartAsync(root, settings.Agents, settings.Namespaces, cancellationToken, settings.LinkDelay).ConfigureAwait(false);
        var deployment = await pool.DeployAsync(modelPath, settings.Stages, settings.Clients + 1, settings.Threads, settings.Activations, cancellationToken).ConfigureAwait(false);
        Log($"Deployed {Path.GetFileName(modelPath)} over {deployment.Stages.Count} stages: "
            + string.Join(", ", deployment.Stages.Select(s => $"{s.NodeName} [{s.FirstLayer}, {s.LastLayer})")) + ".");
        var key = await pool.CreateApiKeyAsync(cancellationToken).ConfigureAwait(false);
        HttpClient Http() => pool.OpenAiClient(key, TimeSpan.FromSeconds(120));

        // The failure-free reference of every request, through the same deployment before anything is killed.
        var prompts = Prompts.Select(p => new ChaosPrompt(p, 0, null))
            .Concat(Prompts.Select((p, i) => new ChaosPrompt(p, 0.9f, (ulong)(settings.Seed * 100 + i))))
            .ToList();
        var references = new List<string>();
        var reference = new ChaosWorkload(Http, ChaosPool.DeploymentName, settings.Tokens, prompts, []);
        using (var http = Http())
        {
            foreach (var prompt in prompts)
            {
                var attempts = await reference.SendWithRetriesAsync(http, prompt, cancellationToken).ConfigureAwait(false);
                if (attempts.Count != 1 || attempts[0].End != AttemptEnd.Done)
                    throw new PoolException($"The failure-free reference of '{prompt.Prompt}' ({prompt.Sampling}) failed: {attempts[^1].End} {attempts[^1].Error}. Logs are in {pool.LogDirectory}.");
                references.Add(attempts[0].Text);
            }
        }
        var plan = FaultSchedule.Plan(settings.Faults, Math.Min(FaultInjector.SlotsIn(settings.Duration, settings.KillEvery), settings.MaxKills), settings.KillCoordinator, settings.Seed);
        Log($"Took the failure-free text of {prompts.Count} requests (greedy and seeded). Running {settings.Clients} clients for {settings.Duration.TotalSeconds:0} s"
            + (plan.Count > 0 ? $" with a fault every {settings.KillEvery.TotalSeconds:0} s ({string.Join(", ", plan.Select(p => p.Coordinator ? "kill (coordinator)" : p.Kind.Name()))})" : ", injecting no fault")
            + (settings.CpuHog > 0 ? $" and {settings.CpuHog} busy threads beside the agents" : "") + " ...");
        foreach (var skipped in settings.FaultsSkipped)
            Log("Skipped: " + skipped);

        // The run: clients and injector side by side; a hard bound against hangs on top of the clients' retry window.
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(settings.Duration + ChaosWorkload.RetryWindow + FaultInjector.HealTimeout + TimeSpan.FromMinutes(2));
        var runFrom = DateTimeOffset.UtcNow;
        var runStarted = Stopwatch.GetTimestamp();
        var clock = Stopwatch.StartNew();
        List<FaultRecord> faults;
        List<RequestRecord> requests;
        using (new CpuHog(settings.CpuHog))
        {
            var workload = new ChaosWorkload(Http, ChaosPool.DeploymentName, settings.Tokens, prompts, references);
            var clientsTask = workload.RunAsync(settings.Clients, () => clock.Elapsed >= settings.Duration, bound.Token);
            var injector = new FaultInjector(pool, settings.KillEvery, settings.RestartAfter, settings.Seed, Log);
            faults = await injector.RunAsync(plan, settings.Duration, bound.Token).ConfigureAwait(false);
            try
            {
                requests = await clientsTask.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new PoolException($"The clients did not finish within the run's bound; the pool hangs. Logs are in {pool.LogDirectory}.");
            }
        }
        var elapsed = clock.Elapsed;
        // What the pool did, from its events (written by the coordinator, kept across its restart), fault by fault.
        IReadOnlyList<EventView> events = [];
        try
        {
            events = await pool.EventsAsync(0, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is PoolException or HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            Log($"Could not read the pool's events ({ex.Message}); the report counts no downs, moves or replays.");
        }
        var (reactions, unprovoked) = FaultEvents.Attribute(events, faults, runFrom, DateTimeOffset.UtcNow);
        var report = ChaosReport.From(requests, faults, elapsed, runStarted, reactions) with
        {
            BurstMemoryLimitBytes = settings.BurstMemoryMb * 1024L * 1024,
            FaultsRequested = settings.Faults.Select(f => f.Name()).ToList(),
            FaultsSkipped = settings.FaultsSkipped,
            CpuHogThreads = settings.CpuHog,
            Unprovoked = unprovoked,
        };
        foreach (var f in report.Faults)
            Log(string.Create(CultureInfo.InvariantCulture, $"{f.StartedSeconds,6:0.0} s  {f.Kind} {f.Target} ({f.Detail}): lasted {f.LastedSeconds:0.0} s, ")
                + (f.HealedAfterSeconds is { } h ? string.Create(CultureInfo.InvariantCulture, $"healed after {h:0.0} s") : "not healed")
                + string.Create(CultureInfo.InvariantCulture, $"; {f.StreamsHit} streams hit, longest pause {f.PauseSeconds ?? 0:0.00} s; pool: {Words(f.Reactions)}"));

        if (settings.Burst > 0 && await pool.WaitHealedAsync(FaultInjector.HealTimeout, cancellationToken).ConfigureAwait(false) && pool.CoordinatorProcessId is { } pid)
        {
            Log($"Firing a burst of {settings.Burst} requests at once (capacity: {settings.Clients + 1} sessions and a bounded queue) ...");
            using var http = Http();
            report = report with { Burst = await OverloadBurst.RunAsync(http, ChaosPool.DeploymentName, settings.Burst, pid, cancellationToken).ConfigureAwait(false) };
        }
        Log($"Stopping the pool (logs stay in {pool.LogDirectory}) ...");
        return report;
    }

    private static string Words(PoolReactions r) => $"{r.Downs} down, {r.Moves} moves, {r.Replays} replays, {r.Alarms} alarms";

    private static void Print(ChaosReport r, ChaosSettings s)
    {
        static string Mark(bool ok) => ok ? "[green]ok[/]" : "[red]MISSED[/]";
        static string Sec(Percentiles p) => p.Count == 0 ? "-" : string.Create(CultureInfo.InvariantCulture, $"{p.P50:0.00} / {p.P99:0.00} / {p.Max:0.00} s ({p.Count})");
        var table = new Table().AddColumns("", "value", "target");
        var faults = r.FaultsRequested.Count > 0 ? string.Join(",", r.FaultsRequested) : "none";
        var hog = r.CpuHogThreads > 0 ? $", {r.CpuHogThreads} busy threads" : "";
        if (s.LinkDelay is { } link)
            hog += string.Create(CultureInfo.InvariantCulture, $", agent links {link.Delay.TotalMilliseconds:0.#} ± {link.Jitter.TotalMilliseconds:0.#} ms");
        table.AddRow("run", Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"{s.Clients} clients, {r.DurationSeconds:0} s, {s.Agents} agents{(s.Namespaces ? " (own hosts)" : "")}, {s.Stages} stages, {s.Activations} activations, faults: {faults} every {s.KillEvery.TotalSeconds:0} s{hog}")), "");
        foreach (var skipped in r.FaultsSkipped)
            table.AddRow("skipped", Markup.Escape(skipped), "");
        table.AddRow("kills", $"{r.AgentKills} agents, {r.CoordinatorKills} coordinator; {r.KillsNotHealed} not healed", r.KillsNotHealed == 0 ? Mark(true) : Mark(false));
        table.AddRow("heal after a kill p50 / p99 / max", Sec(r.HealSeconds), "");
        foreach (var k in r.FaultKinds)
            table.AddRow(Markup.Escape($"{k.Kind}: pause of streams hit, p50 / p99 / max"), Markup.Escape($"{Sec(k.PauseSeconds)}; {k.Injected} injected; pool: {Words(k.Reactions)}"),
                k.NotHealed == 0 ? Mark(true) : $"{k.NotHealed} not healed " + Mark(false));
        table.AddRow("with no fault (false alarms)", Words(r.Unprovoked), r.FaultsRequested.Count == 0 ? "0 down, 0 moves" : "");
        table.AddRow("requests started", r.Started.ToString(CultureInfo.InvariantCulture), "");
        table.AddRow("completed", $"{r.Completed} ({r.CompletedFirstTry} at the first try)", "");
        table.AddRow("retried, then completed", $"{r.Retried} (resent after: {r.RetriesAfterBrokenConnection} broken connections, {r.RetriesAfter503} x 503, "
            + $"{r.RetriesAfter429} x 429, {r.RetriesAfterErrorEvent} error events)", "counted as completed");
        table.AddRow("failed", r.Failed.ToString(CultureInfo.InvariantCulture), "0 " + Mark(r.Failed == 0));
        table.AddRow("texts differing from the failure-free one", r.Differing.ToString(CultureInfo.InvariantCulture), "0 " + Mark(r.Differing == 0));
        table.AddRow("pause in streams an agent kill hit, p50 / p99 / max", Sec(r.PauseSeconds), "");
        table.AddRow("longest gap in streams no fault hit, p50 / p99 / max", Sec(r.UndisturbedLongestGapSeconds), "");
        table.AddRow("resume after a retry (coordinator kill), p50 / p99 / max", Sec(r.ResumeAfterCoordinatorKillSeconds), "");
        table.AddRow("throughput", string.Create(CultureInfo.InvariantCulture, $"{r.TokensPerSecond:0.0} tokens/s ({r.CompletionTokens} tokens)"), "");
        if (r.Burst is { } b)
            table.AddRow("burst beyond capacity", Markup.Escape($"{b.Sent} sent: {b.Served} served, {b.Refused429} x 429 ({b.Refused429WithoutRetryAfter} without Retry-After), {b.Other} other; "
                + $"coordinator memory {Format.Bytes(b.RssBeforeBytes)} -> peak {Format.Bytes(b.RssPeakBytes)}"),
                $"only 200/429, growth <= {s.BurstMemoryMb} MiB " + Mark(r.BurstMet));
        AnsiConsole.Write(table);
        foreach (var sample in r.FailureSamples)
            AnsiConsole.MarkupLine("[red]" + Markup.Escape(sample) + "[/]");
        AnsiConsole.MarkupLine(r.TargetsMet ? "[green]All targets met.[/]" : "[red]Targets missed.[/]");
    }
}

/// <summary>The settings of a chaos run, checked before anything starts.</summary>
internal sealed record ChaosSettings(int Agents, int Stages, int Clients, TimeSpan Duration, TimeSpan KillEvery, TimeSpan RestartAfter, bool KillCoordinator,
    int MaxKills, int Tokens, string Activations, int Threads, int Seed, int Burst, int BurstMemoryMb)
{
    /// <summary>The <c>--faults</c> list as given.</summary>
    public string FaultsText { get; init; } = "kill";

    /// <summary>Agents on hosts of their own (network namespaces), which a cut needs.</summary>
    public bool Namespaces { get; init; }

    /// <summary>Busy threads beside the agents during the run.</summary>
    public int CpuHog { get; init; }

    /// <summary>The <c>--link-delay</c> as given (DELAY or DELAY:JITTER), or null.</summary>
    public string? LinkDelayText { get; init; }

    /// <summary>The round trip and ±jitter every link between agents gets (set by <see cref="Validate"/>), or null.</summary>
    public (TimeSpan Delay, TimeSpan Jitter)? LinkDelay { get; private set; }

    /// <summary>The faults the run injects (set by <see cref="Validate"/>: those asked for that can run here).</summary>
    public IReadOnlyList<ChaosFault> Faults { get; private set; } = [];

    /// <summary>Faults asked for that this run cannot inject, each with why (set by <see cref="Validate"/>).</summary>
    public IReadOnlyList<string> FaultsSkipped { get; private set; } = [];

    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok)
                throw new PoolException(message, exitCode: 2);
        }
        Check(Agents is >= 2 and <= 32, "--agents must be between 2 and 32.");
        Check(Stages >= 1 && Stages <= Agents, $"--stages must be between 1 and --agents ({Agents}); below it, a spare agent takes a lost stage.");
        Check(Clients is >= 1 and <= 64, "--clients must be between 1 and 64.");
        Check(Duration <= TimeSpan.FromHours(2), "--duration must be at most 2h.");
        try
        {
            (Faults, FaultsSkipped) = ChaosFaults.Resolve(FaultsText, Namespaces, Stages);
        }
        catch (FormatException e)
        {
            throw new PoolException(e.Message, exitCode: 2);
        }
        Check(KillEvery >= TimeSpan.FromSeconds(2), "--kill-every must be at least 2s: the pool needs time to heal between faults.");
        Check(Faults.Count == 0 || FaultInjector.SlotsIn(Duration, KillEvery) >= 1,
            $"--duration ({Duration.TotalSeconds:0} s) leaves no room for a kill or other fault every {KillEvery.TotalSeconds:0} s; make it longer than --kill-every.");
        Check(CpuHog is >= 0 and <= 64, "--cpu-hog must be between 0 and 64 threads.");
        if (LinkDelayText is { } linkDelay)
        {
            Check(Namespaces, "--link-delay needs --namespaces (the agents on hosts of their own).");
            LinkDelay = LinkDelaySpec.TryParse(linkDelay);
            Check(LinkDelay is not null, $"--link-delay must be {LinkDelaySpec.Rule}.");
        }
        Check(RestartAfter <= TimeSpan.FromMinutes(5), "--restart-after must be at most 5m.");
        Check(MaxKills >= 0, "--max-kills must be 0 or more.");
        Check(Tokens is >= 1 and <= 256, "--tokens must be between 1 and 256 (the deployment's context is 512).");
        try
        {
            ActivationFormats.Parse(Activations);
        }
        catch (FormatException e)
        {
            throw new PoolException(e.Message, exitCode: 2);
        }
        Check(Threads is >= 0 and <= 256, "--threads must be between 0 (all cores) and 256.");
        Check(Burst is >= 0 and <= 5000, "--burst must be between 0 and 5000.");
        Check(BurstMemoryMb >= 1, "--burst-memory-mb must be at least 1.");
    }
}
