using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using Tessera.Cli.Commands;
using Tessera.Deploy;
using Tessera.Pool;
using Tessera.Pool.Agent;
using Tessera.Pool.Client;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Deploy;

/// <summary>A coordinator (no agent of its own) and three agents as real processes on 127.0.0.1, shared by the deploy tests.</summary>
public class DeployPoolFixture : IAsyncLifetime
{
    internal PoolTestHarness Harness { get; } = new();

    public string CoordinatorDir => Harness.CoordinatorDir;

    internal List<TesseraProcess> Agents { get; } = [];

    public string ApiUrl { get; private set; } = string.Empty;

    public string ApiKey { get; private set; } = string.Empty;

    /// <summary>The agents to start (a subclass may start more).</summary>
    protected virtual IReadOnlyList<string> AgentNames => ["agent-a", "agent-b", "agent-c"];

    /// <summary>Extra arguments of `tessera pool start` (a subclass may tune the controller).</summary>
    protected virtual IReadOnlyList<string> CoordinatorArguments => [];

    /// <summary>Extra arguments of the agent's `tessera join` (a subclass may declare speeds).</summary>
    protected virtual IReadOnlyList<string> AgentArguments(string name) => [];

    /// <summary>The network namespace the agent runs in (null: this one).</summary>
    protected virtual string? NamespaceOf(string name) => null;

    public virtual async Task InitializeAsync()
    {
        await Harness.StartCoordinatorAsync(["--no-agent", .. CoordinatorArguments]);
        var token = await Harness.CreateTokenAsync();
        foreach (var name in AgentNames)
            Agents.Add(Harness.StartAgent(name, token, AgentArguments(name), NamespaceOf(name)));
        await Harness.WaitForNodesAsync(nodes => nodes.Count(n => n.State == "ready" && n.Connected) == AgentNames.Count, PoolTestHarness.StartTimeout,
            $"{AgentNames.Count} ready agents");
        ApiUrl = CoordinatorInfo.TryLoad(new PoolDataDirectory(CoordinatorDir).CoordinatorInfo)!.ApiUrl;
        using var client = Client();
        ApiKey = (await client.CreateApiKeyAsync("deploy-tests", CancellationToken.None)).Key;
    }

    /// <summary>
    /// Deploys <paramref name="model"/> as <paramref name="name"/> over three stages as the process tests do (f32
    /// activations so the text does not depend on the split, one thread, a 256-token context, four sessions), asserts it
    /// succeeded, and returns its view: three stages, in pipeline order.
    /// </summary>
    internal async Task<DeploymentView> DeployThreeStagesAsync(string model, string name, string timeout = "60s")
    {
        var view = await DeployAsync(model, name, minStages: 3, timeout);
        Assert.Equal(3, view.Stages.Count);
        return view;
    }

    /// <summary>
    /// Deploys <paramref name="model"/> as <paramref name="name"/> over at least <paramref name="minStages"/> stages as the
    /// process tests do (f32 activations, one thread, a 256-token context, four sessions), asserts it succeeded, and
    /// returns its view.
    /// </summary>
    internal Task<DeploymentView> DeployAsync(string model, string name, int minStages, string timeout = "60s") =>
        DeployWithAsync(model, name, timeout, "--min-stages", minStages.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>
    /// Deploys <paramref name="model"/> as <paramref name="name"/> as the process tests do (f32 activations, one thread, a
    /// 256-token context, four sessions) with <paramref name="options"/> of <c>deploy</c> besides, asserts it succeeded,
    /// and returns its view.
    /// </summary>
    internal async Task<DeploymentView> DeployWithAsync(string model, string name, string timeout, params string[] options)
    {
        var deploy = await RunAsync(["deploy", model, "--name", name, .. options,
            "--activations", "f32", "--threads", "1", "--context", "256", "--max-sessions", "4", "--timeout", timeout]);
        Assert.True(deploy.ExitCode == 0, $"{deploy.Stdout}\n{deploy.Stderr}\n{Logs}");
        using var api = Client();
        return await api.GetAsync(name, CancellationToken.None);
    }

    /// <summary>Where a deployment's stages are, in words: each stage's node, layers and state.</summary>
    internal static string Placement(DeploymentView d) => string.Join(", ", d.Stages.Select(s => $"{s.NodeName} [{s.FirstLayer}, {s.LastLayer}) {s.State}"));

    /// <summary>A deployment's predicted speed and placement, for test output.</summary>
    internal static string Describe(DeploymentView d) => $"{d.PredictedTokensPerSecond:F1} tokens/s: " + Placement(d);

    /// <summary>Polls deployment <paramref name="name"/> until <paramref name="condition"/> holds with it and every stage ready.</summary>
    internal async Task<DeploymentView> WaitForPlanAsync(string name, Func<DeploymentView, bool> condition, TimeSpan timeout, string what)
    {
        using var api = Client();
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        DeploymentView? last = null;
        while (deadline.Elapsed < timeout)
        {
            last = await api.GetAsync(name, CancellationToken.None);
            if (condition(last) && last.Stages.All(s => s.State == StageStates.Ready) && last.State == DeploymentStates.Ready)
                return last;
            await Task.Delay(250);
        }
        throw new TimeoutException($"no {what} within {timeout}; last: {(last is null ? "-" : Describe(last))}\n{Logs}");
    }

    /// <summary>Polls deployment <paramref name="name"/> every half second until its placement has not changed, with every stage ready, for <paramref name="quiet"/>.</summary>
    internal async Task<DeploymentView> WaitForSettledPlanAsync(string name, TimeSpan quiet, TimeSpan timeout)
    {
        using var api = Client();
        var current = await api.GetAsync(name, CancellationToken.None);
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        var stable = System.Diagnostics.Stopwatch.StartNew();
        while (stable.Elapsed < quiet)
        {
            if (deadline.Elapsed > timeout)
                throw new TimeoutException($"the plan did not settle within {timeout}; last: {Describe(current)}\n{Logs}");
            await Task.Delay(500);
            var next = await api.GetAsync(name, CancellationToken.None);
            if (Placement(next) != Placement(current) || next.Stages.Any(s => s.State != StageStates.Ready))
                stable.Restart();
            current = next;
        }
        return current;
    }

    internal DeployClient Client() => DeployClient.Create(new PoolDataDirectory(CoordinatorDir), null, null, TimeSpan.FromSeconds(60));

    /// <summary>An HTTP client of the coordinator's /v1 that trusts the pool CA and sends the API key.</summary>
    public HttpClient OpenAi() => Https(ApiKey);

    /// <summary>An HTTP client of the coordinator that trusts the pool CA and sends <paramref name="bearer"/> (none when null).</summary>
    public HttpClient Https(string? bearer)
    {
        var dir = new PoolDataDirectory(CoordinatorDir);
        using var pem = X509Certificate2.CreateFromPem(File.ReadAllText(dir.CaCertificate));
        var ca = X509CertificateLoader.LoadCertificate(pem.RawData);
        var http = new HttpClient(CoordinatorChannel.Handler(ca, null, TimeProvider.System), disposeHandler: true)
        {
            BaseAddress = new Uri(ApiUrl + "/"),
            Timeout = TimeSpan.FromSeconds(60),
        };
        if (bearer is not null)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return http;
    }

    /// <summary>The coordinator's /metrics, read with the pool's scrape key (metrics.key).</summary>
    internal async Task<Tessera.Tests.Telemetry.PrometheusText> ScrapeAsync()
    {
        using var scraper = Https((await File.ReadAllTextAsync(new PoolDataDirectory(CoordinatorDir).MetricsKey)).Trim());
        using var response = await scraper.GetAsync("metrics");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.OK, text);
        return Tessera.Tests.Telemetry.PrometheusText.Parse(text);
    }

    /// <summary>Scrapes /metrics every 250 ms until <paramref name="condition"/> holds (stages' figures arrive with their agents' heartbeats, once a second).</summary>
    internal async Task<Tessera.Tests.Telemetry.PrometheusText> WaitForScrapeAsync(Func<Tessera.Tests.Telemetry.PrometheusText, bool> condition, string what)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var metrics = await ScrapeAsync();
            if (condition(metrics))
                return metrics;
            if (deadline.Elapsed > TimeSpan.FromSeconds(20))
                throw new TimeoutException($"no {what} at /metrics within 20 s; last scrape:\n" +
                    string.Join('\n', metrics.Samples.Where(s => s.Name.StartsWith("tessera_", StringComparison.Ordinal)).Select(s => $"{s.Name} {string.Join(',', s.Labels)} {s.Value}")) + "\n" + Logs);
            await Task.Delay(250);
        }
    }

    /// <summary>Runs a CLI command against this pool (adds --data-dir).</summary>
    /// <summary>
    /// Polls `tessera events --output json` (no table wrapping) until every one of <paramref name="texts"/>
    /// appears or <paramref name="timeout"/> passes; returns the last output either way.
    /// </summary>
    public async Task<string> WaitForEventsAsync(TimeSpan timeout, params string[] texts)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var events = await RunAsync("events", "--limit", "50", "--output", "json");
            if (texts.All(t => events.Stdout.Contains(t, StringComparison.Ordinal)) || deadline.Elapsed > timeout)
                return events.Stdout + events.Stderr;
            await Task.Delay(200);
        }
    }

    public Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args) =>
        TesseraProcess.RunAsync([.. args, "--data-dir", CoordinatorDir], TimeSpan.FromSeconds(90));

    /// <summary>Every process's output, for failure messages.</summary>
    public string Logs => string.Join("\n", Agents.Prepend(Harness.Coordinator!).Select(p => p.Output));

    /// <summary>Agents whose output contains <paramref name="text"/>.</summary>
    public int AgentsSaying(string text) => Agents.Count(a => a.Output.Contains(text, StringComparison.Ordinal));

    /// <summary>The agent process named <paramref name="name"/>.</summary>
    internal TesseraProcess Agent(string name) => Agents[AgentNames.ToList().IndexOf(name)];

    /// <summary>Starts the agent named <paramref name="name"/> again (after it was killed): same data directory, so the same node.</summary>
    internal TesseraProcess RestartAgent(string name)
    {
        var process = Harness.StartAgent(name, null, AgentArguments(name), NamespaceOf(name));
        Agents[AgentNames.ToList().IndexOf(name)] = process;
        return process;
    }

    public virtual Task DisposeAsync()
    {
        Harness.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>
/// A coordinator and four agents: three hold the stages, one is spare to take a lost or drained node's layers.
/// xunit makes one instance per test class, so each class that uses it gets a pool of its own.
/// </summary>
public sealed class SpareAgentPoolFixture : DeployPoolFixture
{
    protected override IReadOnlyList<string> AgentNames => ["agent-a", "agent-b", "agent-c", "agent-d"];
}
