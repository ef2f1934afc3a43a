using System.Diagnostics;
using System.Text.Json;
using Tessera.Cli.Commands;
using Tessera.Pool.Client;
using Tessera.Testing;
using Xunit.Abstractions;

namespace Tessera.Tests.Pool;

/// <summary>
/// Links measured by a real pool: every agent serves a link probe from its start, the coordinator measures each one as
/// it joins, and `tessera links --measure` measures every pair; on network-namespace hosts with a delayed link, the
/// limited rate is what is measured.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class LinkMeasurementProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(40);

    private static async Task<List<LinkView>> MeasureAllAsync(PoolTestHarness pool, params string[] extra)
    {
        var run = await TesseraProcess.RunAsync(["links", "--measure", "--output", "json", "--data-dir", pool.CoordinatorDir, .. extra], TimeSpan.FromSeconds(90));
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        return JsonSerializer.Deserialize<List<LinkView>>(run.Stdout, JsonSerializerOptions.Web)!;
    }

    private static LinkView Between(IEnumerable<LinkView> links, string a, string b) =>
        links.Where(l => (l.FromNodeId == a && l.ToNodeId == b) || (l.FromNodeId == b && l.ToNodeId == a)).OrderByDescending(l => l.MeasuredAt).First();

    [Fact]
    public async Task AgentsAreMeasuredAsTheyJoin_AndEveryPairOnDemand_AndTheCliShowsIt()
    {
        using var pool = new PoolTestHarness();
        await pool.StartCoordinatorAsync("--no-agent");
        var token = await pool.CreateTokenAsync();
        foreach (var name in new[] { "alpha", "beta", "gamma" })
            pool.StartAgent(name, token);
        await pool.WaitForNodesAsync(n => n.Count == 3 && n.All(x => x.State == "ready"), Ready, "three ready nodes");
        var ids = (await pool.NodesAsync()).ToDictionary(n => n.Name, n => n.Id);

        // Each agent is measured from the coordinator within seconds of joining, with no command.
        using var api = pool.Api();
        var clock = Stopwatch.StartNew();
        List<LinkView> links;
        do
        {
            await Task.Delay(250);
            links = await api.GetLinksAsync(CancellationToken.None);
        }
        while (!ids.Values.All(id => links.Any(l => l.FromNodeId == "coordinator" && l.ToNodeId == id && l.Error is null)) && clock.Elapsed < TimeSpan.FromSeconds(30));
        output.WriteLine($"every agent measured from the coordinator {clock.Elapsed.TotalSeconds:F1} s after the last was ready");
        Assert.All(ids.Values, id => Assert.Contains(links, l => l.FromNodeId == "coordinator" && l.ToNodeId == id && l.Error is null));

        // On demand: every pair of agents, over the stage transport.
        var all = await MeasureAllAsync(pool);
        foreach (var (a, b) in new[] { ("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma") })
        {
            var link = Between(all, ids[a], ids[b]);
            output.WriteLine($"{a}-{b}: p50 {link.RttMs:F3} ms, p99 {link.RttP99Ms:F3} ms, jitter {link.JitterP99Ms:F3} ms, {link.BandwidthMbps:F0} Mbit/s");
            Assert.Null(link.Error);
            Assert.Equal(20, link.Samples);
            Assert.Equal(0, link.Loss);
            Assert.InRange(link.RttMs, 0.001, 50);
            Assert.True(link.RttP99Ms >= link.RttMs);
            Assert.True(link.BandwidthMbps > 0);
        }

        var table = await TesseraProcess.RunAsync(["links", "--data-dir", pool.CoordinatorDir], TimeSpan.FromSeconds(30));
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("RTT p50 ms", table.Stdout);
        Assert.Contains("gamma", table.Stdout);
        var nodes = await TesseraProcess.RunAsync(["nodes", "--data-dir", pool.CoordinatorDir], TimeSpan.FromSeconds(30));
        Assert.Contains("Reachable", nodes.Stdout);
        Assert.Contains("yes", nodes.Stdout);
    }

    [NetworkNamespaceFact]
    public async Task ASlowLinkBetweenTwoHosts_IsMeasuredAtItsRate_AndTheOtherLinksAtTheirs()
    {
        using var hosts = new VirtualHosts(["near", "far", "other"]);
        // 8 Mbit/s each way between near and far only; the bridge carries the rest at memory speed.
        hosts.Limit("near", "far", 8);
        hosts.Limit("far", "near", 8);
        using var pool = new PoolTestHarness();
        await pool.StartCoordinatorAsync("--no-agent", "--listen", hosts.CoordinatorIp + ":0");
        var token = await pool.CreateTokenAsync();
        foreach (var name in new[] { "near", "far", "other" })
            pool.StartAgent(name, token, ["--speed-gbps", "1"], hosts.NamespaceOf(name));
        await pool.WaitForNodesAsync(n => n.Count == 3 && n.All(x => x.State == "ready"), Ready, "three ready hosts");
        var ids = (await pool.NodesAsync()).ToDictionary(n => n.Name, n => n.Id);

        var links = await MeasureAllAsync(pool);

        var slow = Between(links, ids["near"], ids["far"]);
        var fast = new[] { Between(links, ids["near"], ids["other"]), Between(links, ids["far"], ids["other"]) };
        output.WriteLine($"near-far: {slow.BandwidthMbps:F1} Mbit/s, p50 {slow.RttMs:F2} ms; near-other {fast[0].BandwidthMbps:F0} Mbit/s; far-other {fast[1].BandwidthMbps:F0} Mbit/s");
        Assert.Null(slow.Error);
        // The limit caps it from above; a busy machine may measure less, never more. The other links are far faster.
        Assert.InRange(slow.BandwidthMbps, 2, 10);
        Assert.All(fast, l => Assert.True(l.Error is null && l.BandwidthMbps > 3 * slow.BandwidthMbps, $"{l.BandwidthMbps} Mbit/s, {l.Error}"));
        Assert.All(ids.Values, id => Assert.Contains(links, l => l.FromNodeId == "coordinator" && l.ToNodeId == id && l.Error is null));
    }
}
