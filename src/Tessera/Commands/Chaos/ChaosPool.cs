using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using Tessera.Deploy;
using Tessera.Pool;
using Tessera.Pool.Agent;
using Tessera.Pool.Client;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>
/// The pool a chaos run works on: a coordinator (without an agent of its own, so killing it kills no stage) and
/// agents as child processes on 127.0.0.1, each with its data directory under one root. Any of them can be killed
/// (SIGKILL) and started again on the same data directory, as a crashed machine that reboots would be. With
/// <see cref="VirtualHosts"/> each agent runs on a host of its own (a network namespace) and the coordinator on their
/// bridge, so the link between two agents can be cut.
/// </summary>
internal sealed class ChaosPool : IAsyncDisposable
{
    public const string DeploymentName = "chaos";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly string _root;
    private readonly ChildProcess?[] _agents;
    private readonly VirtualHosts? _hosts;
    private readonly List<ChildProcess> _emulators = [];
    private ChildProcess? _coordinator;
    private string _joinToken = string.Empty;

    private ChaosPool(string root, int agents, VirtualHosts? hosts)
    {
        _root = root;
        _agents = new ChildProcess?[agents];
        _hosts = hosts;
    }

    /// <summary>The hosts the agents run on, or null when they share this machine's loopback.</summary>
    public VirtualHosts? Hosts => _hosts;

    public PoolDataDirectory CoordinatorDirectory => new(Path.Combine(_root, "coordinator"));

    public string LogDirectory => Path.Combine(_root, "logs");

    public int AgentCount => _agents.Length;

    public static string AgentName(int index) => $"chaos-{index + 1}";

    /// <summary>The coordinator's process id (for its memory), or null while it is down.</summary>
    public int? CoordinatorProcessId => _coordinator is { HasExited: false } c ? c.Id : null;

    /// <summary>The process id of agent <paramref name="index"/>, or null while it is down.</summary>
    public int? AgentProcessId(int index) => _agents[index] is { HasExited: false } agent ? agent.Id : null;

    /// <summary>
    /// Starts the coordinator and the agents in a fresh <paramref name="root"/> and waits until every agent is ready; with
    /// <paramref name="namespaces"/>, on hosts of their own (the pool owns them and removes them when disposed).
    /// </summary>
    /// <param name="linkDelay">With namespaces: the round trip and ±jitter of every link between agents (a <see cref="LinkEmulator"/> per host).</param>
    public static async Task<ChaosPool> StartAsync(string root, int agents, bool namespaces, CancellationToken cancellationToken,
        (TimeSpan Delay, TimeSpan Jitter)? linkDelay = null)
    {
        // A chaos pool is made afresh each run: ports change, and agents of an old run would dial the old coordinator.
        if (Directory.Exists(root))
            Directory.Delete(root, recursive: true);
        var pool = new ChaosPool(root, agents, namespaces ? new VirtualHosts(Enumerable.Range(0, agents).Select(AgentName)) : null);
        try
        {
            if (pool._hosts is { } hosts && linkDelay is { } link)
            {
                var names = Enumerable.Range(0, agents).Select(AgentName).ToList();
                foreach (var name in names)
                {
                    var (ns, arguments) = hosts.EmulateLinks(name, names.Where(n => n != name), link.Delay, link.Jitter);
                    pool._emulators.Add(ChildProcess.Start("link-" + name, pool.LogDirectory, arguments, networkNamespace: ns));
                }
            }
            var listen = (pool._hosts?.CoordinatorIp ?? "127.0.0.1") + ":0";
            pool._coordinator = ChildProcess.Start("coordinator", pool.LogDirectory,
                ["pool", "start", "--data-dir", pool.CoordinatorDirectory.Root, "--listen", listen, "--no-agent", "--name", "chaos-coordinator", "--speed-probe-mb", "8"]);
            using (var api = await pool.WaitForCoordinatorAsync(cancellationToken).ConfigureAwait(false))
                pool._joinToken = (await api.CreateTokenAsync("24h", "chaos agents", cancellationToken, uses: agents).ConfigureAwait(false)).Token;
            for (var i = 0; i < agents; i++)
                pool.StartAgent(i);
            await pool.WaitForAgentsAsync(StartTimeout, cancellationToken).ConfigureAwait(false);
            return pool;
        }
        catch
        {
            await pool.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private void StartAgent(int index)
    {
        var dir = Path.Combine(_root, AgentName(index));
        // The token is needed once: after joining, the agent's identity is in its data directory. It goes in the
        // environment, out of sight of ps.
        var secret = Directory.Exists(dir) ? null : new Dictionary<string, string> { [JoinCommand.TokenVariable] = _joinToken };
        _agents[index] = ChildProcess.Start(AgentName(index), LogDirectory, ["join", "--name", AgentName(index), "--data-dir", dir, "--speed-probe-mb", "8"], secret,
            _hosts?.NamespaceOf(AgentName(index)));
    }

    /// <summary>Deploys <paramref name="model"/> over <paramref name="stages"/> stages and waits until it serves.</summary>
    public Task<DeploymentView> DeployAsync(string model, int stages, int sessions, int threads, string activations, CancellationToken cancellationToken) =>
        DeployAsync(new DeploymentRequest(model, DeploymentName, Context: 512, MaxSessions: sessions, Activations: activations, MinStages: stages, Threads: threads),
            cancellationToken);

    /// <summary>Deploys as <paramref name="request"/> says and waits until it serves.</summary>
    public async Task<DeploymentView> DeployAsync(DeploymentRequest request, CancellationToken cancellationToken)
    {
        using var api = DeployClient.Create(CoordinatorDirectory, null, null, TimeSpan.FromSeconds(60));
        var created = await api.CreateAsync(request, cancellationToken).ConfigureAwait(false);
        // Polled quietly: stdout is kept for the report (--output json).
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var view = await api.GetAsync(created.Name, cancellationToken).ConfigureAwait(false);
            if (view.State == DeploymentStates.Ready)
                return view;
            if (view.State == DeploymentStates.Failed || clock.Elapsed > StartTimeout)
                throw new PoolException($"The deployment {created.Name} did not become ready: {view.Error ?? view.State}. Logs are in {LogDirectory}.");
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A client of the coordinator's /v1 that trusts the pool CA and sends <paramref name="apiKey"/>.</summary>
    public HttpClient OpenAiClient(string apiKey, TimeSpan timeout)
    {
        var info = CoordinatorInfo.TryLoad(CoordinatorDirectory.CoordinatorInfo) ?? throw new PoolException($"No coordinator.json in {CoordinatorDirectory.Root}.");
        using var pem = X509Certificate2.CreateFromPem(File.ReadAllText(CoordinatorDirectory.CaCertificate));
        var ca = X509CertificateLoader.LoadCertificate(pem.RawData);
        var http = new HttpClient(CoordinatorChannel.Handler(ca, null, TimeProvider.System), disposeHandler: true)
        {
            BaseAddress = new Uri(info.ApiUrl.TrimEnd('/') + "/"),
            Timeout = timeout,
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return http;
    }

    public async Task<string> CreateApiKeyAsync(CancellationToken cancellationToken)
    {
        using var api = DeployClient.Create(CoordinatorDirectory, null, null, TimeSpan.FromSeconds(30));
        return (await api.CreateApiKeyAsync("chaos", cancellationToken).ConfigureAwait(false)).Key;
    }

    /// <summary>The names of the nodes holding a stage of the deployment now, or none when the coordinator does not answer.</summary>
    public async Task<IReadOnlyList<string>> StageHoldersAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var api = DeployClient.Create(CoordinatorDirectory, null, null, TimeSpan.FromSeconds(10));
            var deployment = await api.GetAsync(DeploymentName, cancellationToken).ConfigureAwait(false);
            return deployment.Stages.Select(s => s.NodeName).Distinct(StringComparer.Ordinal).ToList();
        }
        catch (Exception ex) when (ex is PoolException or HttpRequestException or TaskCanceledException)
        {
            return [];
        }
    }

    /// <summary>The pool's events after <paramref name="after"/> (an event id; 0: all), oldest first.</summary>
    public async Task<IReadOnlyList<EventView>> EventsAsync(long after, CancellationToken cancellationToken)
    {
        using var api = PoolApiClient.Create(CoordinatorDirectory, null, null, TimeProvider.System);
        var events = new List<EventView>();
        while (true)
        {
            var page = await api.GetEventsAsync(after, 5000, null, cancellationToken).ConfigureAwait(false);
            events.AddRange(page);
            if (page.Count < 5000)
                return events;
            after = page[^1].Id;
        }
    }

    /// <summary>kill -9 of agent <paramref name="index"/>.</summary>
    public Task KillAgentAsync(int index) => _agents[index] is { } agent ? agent.KillAsync() : Task.CompletedTask;

    /// <summary>Starts agent <paramref name="index"/> again on its data directory: it rejoins as the same node.</summary>
    public void RestartAgent(int index) => StartAgent(index);

    /// <summary>kill -9 of the coordinator.</summary>
    public async Task KillCoordinatorAsync()
    {
        if (_coordinator is { } coordinator)
            await coordinator.KillAsync().ConfigureAwait(false);
        _coordinator = null;
    }

    /// <summary>Starts the coordinator again on its data directory (its stored address) and waits until its API answers.</summary>
    public async Task RestartCoordinatorAsync(CancellationToken cancellationToken)
    {
        _coordinator = ChildProcess.Start("coordinator", LogDirectory, ["pool", "start", "--data-dir", CoordinatorDirectory.Root, "--no-agent", "--speed-probe-mb", "8"]);
        using var api = await WaitForCoordinatorAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits until the pool has healed: every agent connected and ready, the deployment ready with every stage ready.
    /// Returns false when that does not happen within <paramref name="timeout"/>.
    /// </summary>
    public async Task<bool> WaitHealedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            try
            {
                using var pool = PoolApiClient.Create(CoordinatorDirectory, null, null, TimeProvider.System);
                using var deploy = DeployClient.Create(CoordinatorDirectory, null, null, TimeSpan.FromSeconds(10));
                var nodes = await pool.GetNodesAsync(cancellationToken).ConfigureAwait(false);
                var deployment = await deploy.GetAsync(DeploymentName, cancellationToken).ConfigureAwait(false);
                if (nodes.Count(n => n.State == "ready" && n.Connected) >= _agents.Length && deployment.State == DeploymentStates.Ready
                    && deployment.Stages.All(s => s.State == StageStates.Ready))
                    return true;
            }
            catch (Exception ex) when (ex is PoolException or HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // the coordinator is restarting
            }
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
        return false;
    }

    private Task<PoolApiClient> WaitForCoordinatorAsync(CancellationToken cancellationToken) =>
        (_coordinator ?? throw new InvalidOperationException("The coordinator is not running.")).WaitForCoordinatorAsync(CoordinatorDirectory, StartTimeout, cancellationToken);

    private async Task WaitForAgentsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var api = PoolApiClient.Create(CoordinatorDirectory, null, null, TimeProvider.System);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var nodes = await api.GetNodesAsync(cancellationToken).ConfigureAwait(false);
            var ready = nodes.Count(n => n.State == "ready" && n.Connected);
            if (ready >= _agents.Length)
                return;
            if (_agents.FirstOrDefault(a => a is { HasExited: true }) is { } dead)
                throw new PoolException($"{dead.Name} exited early; see {dead.LogPath}.");
            if (clock.Elapsed > timeout)
                throw new PoolException($"Only {ready} of {_agents.Length} agents became ready within {timeout.TotalSeconds:0} s; logs are in {LogDirectory}.");
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the agents, then the coordinator (gracefully), and removes the hosts.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var agent in _agents)
        {
            if (agent is not null)
                await agent.StopAsync().ConfigureAwait(false);
        }
        if (_coordinator is not null)
            await _coordinator.StopAsync().ConfigureAwait(false);
        foreach (var emulator in _emulators)
            await emulator.StopAsync().ConfigureAwait(false);
        _hosts?.Dispose();
    }
}
