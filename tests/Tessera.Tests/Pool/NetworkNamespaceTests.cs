using System.Diagnostics;
using System.Text.Json;
using Tessera.Pool.Client;

namespace Tessera.Tests.Pool;

/// <summary>
/// A coordinator and an agent on two "hosts" with their own addresses: two network namespaces
/// joined by a veth pair (addresses exist only inside the namespaces). The link is cut with
/// `ip link set ... down` and restored.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class NetworkNamespaceTests : IDisposable
{
    private readonly string _suffix = Random.Shared.Next(0x100000, 0xFFFFFF).ToString("x6", System.Globalization.CultureInfo.InvariantCulture);
    private readonly int _subnet = Random.Shared.Next(1, 250);
    private readonly List<string> _namespaces = [];
    private readonly PoolTestHarness _pool = new();

    private string CoordinatorNs => "tsr-c-" + _suffix;
    private string AgentNs => "tsr-a-" + _suffix;
    private string CoordinatorVeth => "tsrc" + _suffix;
    private string AgentVeth => "tsra" + _suffix;
    private string CoordinatorIp => $"10.213.{_subnet}.1";
    private string AgentIp => $"10.213.{_subnet}.2";

    [NetworkNamespaceFact]
    public async Task AgentInAnotherNamespace_JoinsOverVeth_GoesDownWhenTheLinkIsCut_AndComesBackWhenRestored()
    {
        // arrange: two hosts joined by a veth pair
        CreateHost(CoordinatorNs, CoordinatorVeth, CoordinatorIp);
        CreateHost(AgentNs, AgentVeth, AgentIp, peerOf: CoordinatorVeth);
        var coordinator = _pool.Track(TesseraProcess.Start(
            ["pool", "start", "--no-agent", "--data-dir", _pool.CoordinatorDir, "--listen", $"{CoordinatorIp}:7470", "--speed-probe-mb", "0"], CoordinatorNs));
        await coordinator.WaitForStdoutAsync("tessera join tsr1_", PoolTestHarness.StartTimeout);
        var token = (await Cli("token", "create", "-q")).Trim();
        Assert.Contains(CoordinatorIp, JsonToken(token));

        var agent = _pool.Track(TesseraProcess.Start(
            ["join", token, "--name", "far", "--data-dir", _pool.AgentDir("far"), "--speed-probe-mb", "8"], AgentNs));
        var node = await WaitForAsync(n => n?.State == "ready", TimeSpan.FromSeconds(40), "far ready");
        Assert.Equal(AgentIp, node.Address);

        // act: cut the link
        Ip("-n", AgentNs, "link", "set", AgentVeth, "down");
        var cut = Stopwatch.StartNew();
        await WaitForAsync(n => n?.State == "down", TimeSpan.FromSeconds(20), "far down after the cut");
        Assert.True(cut.Elapsed < TimeSpan.FromSeconds(20));

        // act: restore it; the agent reconnects by itself
        Ip("-n", AgentNs, "link", "set", AgentVeth, "up");
        var back = await WaitForAsync(n => n?.State == "ready" && n.Connected, TimeSpan.FromSeconds(40), "far ready after the link is restored");
        Assert.Equal(node.Id, back.Id);
        Assert.False(agent.HasExited, agent.Output);
    }

    private static string JsonToken(string token)
    {
        var payload = token[Tessera.Pool.Security.JoinToken.Prefix.Length..];
        return System.Text.Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(payload));
    }

    private async Task<NodeView> WaitForAsync(Func<NodeView?, bool> condition, TimeSpan timeout, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        NodeView? last = null;
        while (stopwatch.Elapsed < timeout)
        {
            var json = await Cli("nodes", "--output", "json");
            last = JsonSerializer.Deserialize<List<NodeView>>(json, JsonSerializerOptions.Web)!.SingleOrDefault();
            if (condition(last))
                return last!;
            await Task.Delay(250);
        }
        throw new TimeoutException($"Timed out waiting for {what}; last state {last?.State}.");
    }

    private async Task<string> Cli(params string[] args)
    {
        var (exitCode, stdout, stderr) = await TesseraProcess.RunAsync([.. args, "--data-dir", _pool.CoordinatorDir], TimeSpan.FromSeconds(30), CoordinatorNs);
        Assert.True(exitCode == 0, $"tessera {string.Join(' ', args)} failed: {stderr}");
        return stdout;
    }

    private void CreateHost(string ns, string veth, string ip, string? peerOf = null)
    {
        Ip("netns", "add", ns);
        _namespaces.Add(ns);
        Ip("-n", ns, "link", "set", "lo", "up");
        if (peerOf is null)
        {
            Ip("link", "add", veth, "type", "veth", "peer", "name", AgentVeth);
            Ip("link", "set", veth, "netns", ns);
        }
        else
        {
            Ip("link", "set", veth, "netns", ns);
        }
        Ip("-n", ns, "addr", "add", ip + "/24", "dev", veth);
        Ip("-n", ns, "link", "set", veth, "up");
    }

    private static void Ip(params string[] args)
    {
        var (ok, error) = NetworkNamespaceFactAttribute.Run(["ip", .. args]);
        Assert.True(ok, $"ip {string.Join(' ', args)}: {error}");
    }

    public void Dispose()
    {
        _pool.Dispose();
        foreach (var ns in _namespaces)
            NetworkNamespaceFactAttribute.Run("ip", "netns", "del", ns);
    }
}
