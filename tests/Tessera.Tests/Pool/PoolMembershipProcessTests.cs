using System.Diagnostics;
using System.Net.Http.Json;
using Tessera.Pool.Client;

namespace Tessera.Tests.Pool;

[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class PoolMembershipProcessTests
{
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(40);

    /// <summary>The detector's bound with steady 1 s heartbeats is about 2.5 s (phi 8); 8 s leaves room for a loaded CI machine and stays below MaxSilence (10 s).</summary>
    private static readonly TimeSpan DownBound = TimeSpan.FromSeconds(8);

    private static bool AllReady(List<NodeView> nodes, int count) => nodes.Count == count && nodes.All(n => n.State == "ready");

    [Fact]
    public async Task ThreeAgents_Join_SurviveAKilledAgent_AndACoordinatorRestart_AsTheSameNodes()
    {
        using var pool = new PoolTestHarness();
        await pool.StartCoordinatorAsync("--no-agent");
        var token = await pool.CreateTokenAsync();

        // arrange: three agents as separate processes
        var agents = new Dictionary<string, TesseraProcess>();
        foreach (var name in new[] { "alpha", "beta", "gamma" })
            agents[name] = pool.StartAgent(name, token);
        await pool.WaitForNodesAsync(n => AllReady(n, 3), Ready, "three ready nodes");
        var ids = (await pool.NodesAsync()).ToDictionary(n => n.Name, n => n.Id);
        Assert.All(await pool.NodesAsync(), n => Assert.True(n.RamTotalBytes > 0 && n.Cpu.LogicalCores > 0 && n.Cpu.SpeedGBps > 0));

        // act: kill -9 one agent
        agents["beta"].Kill();
        var stopwatch = Stopwatch.StartNew();
        await pool.WaitForNodesAsync(n => n.Single(x => x.Name == "beta").State == "down", DownBound, "beta down");
        var detected = stopwatch.Elapsed;
        Assert.True(detected < DownBound, $"down after {detected}");
        Assert.All((await pool.NodesAsync()).Where(n => n.Name != "beta"), n => Assert.Equal("ready", n.State));

        using (var api = pool.Api())
        {
            var events = await api.GetEventsAsync(0, 1000, ids["beta"], CancellationToken.None);
            var transitions = events.Where(e => e.Kind == "node-state").Select(e => $"{e.FromState}->{e.ToState}").ToList();
            Assert.Equal(["joining->ready", "ready->suspect", "suspect->down"], transitions);
        }

        // act: restart it without the token: the same node comes back
        agents["beta"] = pool.StartAgent("beta", token: null);
        await pool.WaitForNodesAsync(n => AllReady(n, 3), Ready, "beta ready again");
        Assert.Equal(ids, (await pool.NodesAsync()).ToDictionary(n => n.Name, n => n.Id));

        // act: kill -9 the coordinator and start it again on the same data directory
        var eventsBefore = await CountEventsAsync(pool);
        pool.Coordinator!.Kill();
        await Task.Delay(1500);
        await pool.StartCoordinatorAsync("--no-agent");

        // assert: the agents reconnect by themselves, as the same nodes, and nothing was lost
        await pool.WaitForNodesAsync(n => AllReady(n, 3) && n.All(x => x.Connected), Ready, "all ready after coordinator restart");
        Assert.Equal(ids, (await pool.NodesAsync()).ToDictionary(n => n.Name, n => n.Id));
        Assert.True(await CountEventsAsync(pool) >= eventsBefore);
        using (var api = pool.Api())
        {
            var tokens = await api.GetTokensAsync(CancellationToken.None);
            Assert.Contains(tokens, t => t.Uses == 3);
        }
        Assert.All(agents.Values, a => Assert.False(a.HasExited, a.Output));
    }

    [Fact]
    public async Task PoolStart_RunsALocalAgent_AndNodesCanBeDrainedAndRemovedFromTheCli()
    {
        using var pool = new PoolTestHarness();
        var coordinator = await pool.StartCoordinatorAsync("--name", "head");
        Assert.Contains("Admin key", coordinator.Stdout);
        Assert.Contains("/api", coordinator.Stdout);
        var token = await pool.CreateTokenAsync();
        var worker = pool.StartAgent("worker", token);
        await pool.WaitForNodesAsync(n => AllReady(n, 2), Ready, "head and worker ready");

        var table = await Cli("nodes");
        Assert.Contains("head", table.Stdout);
        Assert.Contains("worker", table.Stdout);
        var json = await Cli("nodes", "--output", "json");
        Assert.Contains("\"state\": \"ready\"", json.Stdout);

        // tessera top prints one frame when its output is not a terminal: both nodes, the serving line, the events.
        var top = await Cli("top", "--once");
        Assert.Equal(0, top.ExitCode);
        foreach (var expected in new[] { "head", "worker", "2 nodes", "tokens/s", "node-joined" })
            Assert.Contains(expected, top.Stdout);

        var drained = await Cli("node", "drain", "worker");
        Assert.Contains("draining", drained.Stdout);
        await pool.WaitForNodesAsync(n => n.Single(x => x.Name == "worker").State == "draining", TimeSpan.FromSeconds(5), "worker draining");

        var removed = await Cli("node", "remove", "worker");
        Assert.Contains("left", removed.Stdout);
        await worker.WaitForStdoutAsync("removed from the pool", TimeSpan.FromSeconds(10));

        var again = await TesseraProcess.RunAsync(["join", "--data-dir", pool.AgentDir("worker"), "--speed-probe-mb", "0"], TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, again.ExitCode);

        var events = await Cli("events", "--limit", "100");
        Assert.Contains("draining", events.Stdout);
        Assert.Contains("left", events.Stdout);

        var unknown = await Cli("node", "drain", "nobody");
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("No node named", unknown.Stderr);

        async Task<(int ExitCode, string Stdout, string Stderr)> Cli(params string[] args)
        {
            var result = await TesseraProcess.RunAsync([.. args, "--data-dir", pool.CoordinatorDir], TimeSpan.FromSeconds(30));
            return result;
        }
    }

    [Fact]
    public async Task AdminEndpoints_RequireTheAdminKey_AndTheOpenApiDocumentIsServed()
    {
        using var pool = new PoolTestHarness();
        await pool.StartCoordinatorAsync("--no-agent");
        var info = CoordinatorInfo.TryLoad(Path.Combine(pool.CoordinatorDir, "coordinator.json"))!;
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(info.ApiUrl) };

        var anonymous = await http.GetAsync("/api/nodes");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Contains("admin.key", await anonymous.Content.ReadAsStringAsync());

        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/tokens");
        wrong.Headers.Authorization = new("Bearer", "tsa_wrong");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);

        var openApi = await http.GetStringAsync("/api/openapi.json");
        using var document = System.Text.Json.JsonDocument.Parse(openApi);
        Assert.True(document.RootElement.GetProperty("paths").TryGetProperty("/api/nodes", out _));
        Assert.True(document.RootElement.GetProperty("paths").TryGetProperty("/api/links/observed", out _));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync("/api/links/observed")).StatusCode);
        Assert.Equal(info.CaSha256, (await http.GetFromJsonAsync<HealthView>("/api/health"))!.CaSha256);
    }

    private static async Task<int> CountEventsAsync(PoolTestHarness pool)
    {
        using var api = pool.Api();
        return (await api.GetEventsAsync(0, 5000, null, CancellationToken.None)).Count;
    }
}
