using Tessera.Identity;
using Tessera.Pool.Security;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Security;

/// <summary>Join tokens against a real coordinator and agents: bad, forged and expired tokens, and a single-use token used twice.</summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class JoinTokenProcessTests
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task Join_WithBadTokens_IsRefusedWithTheRightMessageAndStoresNothing()
    {
        using var pool = new PoolTestHarness();
        await pool.StartCoordinatorAsync("--no-agent");
        var good = JoinToken.Parse(await pool.CreateTokenAsync());
        var expired = JoinToken.Parse(await pool.CreateTokenAsync("1s"));
        var revoked = JoinToken.Parse(await pool.CreateTokenAsync());
        using (var api = pool.Api())
            await api.RevokeTokenAsync(revoked.Id, CancellationToken.None);
        await Task.Delay(1200);

        var cases = new (string Name, string Token, string Expected)[]
        {
            ("malformed", "tsr1_not*base64", "malformed"),
            ("wrong-prefix", "hello", "does not start with 'tsr1_'"),
            // an unknown id and a forged secret get the same answer: ids cannot be probed
            ("forged-secret", (good with { Secret = Secrets.NewSecret() }).Encode(), "not valid for this pool (it is unknown here, or was altered or forged)"),
            ("unknown-id", (good with { Id = "tok_000000000000" }).Encode(), "not valid for this pool (it is unknown here, or was altered or forged)"),
            ("expired", expired.Encode(), "expired"),
            ("revoked", revoked.Encode(), "was revoked"),
            ("other-pool-ca", (good with { CaSha256 = new string('c', 64) }).Encode(), "expects cccccccccccccccc"),
        };

        foreach (var (name, token, expected) in cases)
        {
            var (exitCode, _, stderr) = await TesseraProcess.RunAsync(
                ["join", token, "--name", name, "--data-dir", pool.AgentDir(name), "--speed-probe-mb", "0"], CommandTimeout);

            Assert.True(exitCode != 0, $"{name}: exit code 0");
            Assert.Contains(expected, stderr);
            Assert.DoesNotContain("   at ", stderr); // no stack traces
            Assert.False(File.Exists(Path.Combine(pool.AgentDir(name), "agent", "agent.json")), $"{name}: an identity was stored");
        }

        Assert.Empty(await pool.NodesAsync());
        using var check = pool.Api();
        Assert.All(await check.GetTokensAsync(CancellationToken.None), t => Assert.Equal(0, t.Uses));
        Assert.DoesNotContain(await check.GetEventsAsync(0, 1000, null, CancellationToken.None), e => e.Kind == "node-joined");
    }

    [Fact]
    public async Task ASingleUseToken_AdmitsOneMachine_GivesItTheTokensLabels_AndRefusesTheNext()
    {
        using var pool = new PoolTestHarness();
        await pool.StartCoordinatorAsync("--no-agent");
        using var api = pool.Api();
        var created = await api.CreateTokenAsync("1h", "one box", CancellationToken.None, uses: 1, new Dictionary<string, string> { ["site"] = "lab", ["gpu"] = "none" });

        var first = pool.StartAgent("first", created.Token);
        await first.WaitForStdoutAsync("Joined pool", CommandTimeout);
        var (exitCode, _, stderr) = await TesseraProcess.RunAsync(
            ["join", created.Token, "--name", "second", "--data-dir", pool.AgentDir("second"), "--speed-probe-mb", "0"], CommandTimeout);

        Assert.NotEqual(0, exitCode);
        Assert.Contains($"token {created.Id} already admitted 1 machine(s), as many as it may", stderr);
        Assert.False(File.Exists(Path.Combine(pool.AgentDir("second"), "agent", "agent.json")));
        var node = Assert.Single(await pool.NodesAsync());
        Assert.Equal("first", node.Name);
        Assert.Equal(new Dictionary<string, string> { ["site"] = "lab", ["gpu"] = "none" }, node.Labels);
        var token = Assert.Single(await api.GetTokensAsync(CancellationToken.None), t => t.Id == created.Id);
        Assert.Equal((1, 1, "used"), (token.Uses, token.MaxUses!.Value, token.Status));
    }

    [Fact]
    public async Task Join_WithAGoodToken_AfterWhichTheTokenIsNotNeeded()
    {
        using var pool = new PoolTestHarness();
        await pool.StartCoordinatorAsync("--no-agent");
        var token = await pool.CreateTokenAsync();
        var agent = pool.StartAgent("solo", token);
        await agent.WaitForStdoutAsync("Joined pool", CommandTimeout);
        await pool.WaitForNodesAsync(n => n.Count == 1 && n[0].State == "ready", CommandTimeout, "solo ready");
        agent.Kill();

        // The token is revoked; the node still reconnects with its certificate.
        using (var api = pool.Api())
            await api.RevokeTokenAsync(JoinToken.Parse(token).Id, CancellationToken.None);
        var again = pool.StartAgent("solo", token: null);
        await again.WaitForStdoutAsync("Already a member", CommandTimeout);
        await pool.WaitForNodesAsync(n => n.Count == 1 && n[0].State == "ready" && n[0].Connected, CommandTimeout, "solo back");

        var keyPath = Path.Combine(pool.AgentDir("solo"), "agent", "node.key");
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));
    }
}
