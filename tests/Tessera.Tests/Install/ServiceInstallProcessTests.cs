using Tessera.Cli.Install;
using Tessera.Pool.Security;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Install;

/// <summary>
/// <c>tessera service install|uninstall</c>: the units it writes are valid for systemd (<c>systemd-analyze verify</c>), the
/// agent's join token is kept readable by root only, and an agent restarted with its used token starts from its identity.
/// </summary>
[Trait("Category", "Process")]
public sealed class ServiceInstallProcessTests : IDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("tessera-service-").FullName;

    private string Units => Path.Combine(_dir, "systemd");

    private string Config => Path.Combine(_dir, "etc");

    /// <summary>The apphost beside the test's tessera.dll: a real executable, which verify requires ExecStart to name.</summary>
    private static string Binary => Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "tessera.exe" : "tessera");

    [SystemdAnalyzeTheory]
    [InlineData("coordinator", "tessera-coordinator.service", "pool start --data-dir /var/lib/tessera-coordinator --listen 0.0.0.0:7470")]
    [InlineData("agent", "tessera-agent.service", "join --data-dir /var/lib/tessera-agent --name \"gpu box\" --cache-limit 100%%")]
    public async Task Install_WritesAUnitThatSystemdAnalyzeVerifyAccepts_WithARestartPolicy(string role, string file, string command)
    {
        string[] extra = role == "coordinator" ? ["--listen", "0.0.0.0:7470"] : ["--name", "gpu box", "--cache-limit", "100%"];

        var (code, stdout, stderr) = await Tessera(["service", "install", "--role", role, "--binary", Binary, "--output", Units, "--config-dir", Config, "--", .. extra]);

        Assert.True(code == 0, stderr);
        var unitPath = Path.Combine(Units, file);
        Assert.Contains("Wrote " + unitPath, stdout);
        var unit = File.ReadAllText(unitPath);
        Assert.Contains($"ExecStart={Binary} {command}\n", unit);
        Assert.Contains("Restart=on-failure\n", unit);
        Assert.Contains("RestartPreventExitStatus=2 3\n", unit);
        Assert.Matches(@"LimitNOFILE=\d{5,}\n", unit);
        Assert.Contains("DynamicUser=yes\n", unit);
        Assert.Contains($"StateDirectory={Path.GetFileNameWithoutExtension(file)}\n", unit);
        var verify = await Verify(unitPath);
        Assert.True(verify.ExitCode == 0, verify.Output);
        // verify reports a line it ignores (a bad value, an unknown key) and still exits 0: any word about the unit fails.
        Assert.DoesNotContain(file, verify.Output);
    }

    [SystemdAnalyzeFact]
    public async Task Install_ForAnAgentWithATokenAndAUser_KeepsTheTokenForRootOnly_AndStillVerifies()
    {
        var token = new JoinToken("192.0.2.10:7470", new string('a', 64), "tok_test", "secret").Encode();

        var (code, stdout, stderr) = await Tessera(["service", "install", "--role", "agent", "--token", token, "--user", "root", "--binary", Binary, "--output", Units, "--config-dir", Config]);

        Assert.True(code == 0, stderr);
        var envFile = Path.Combine(Config, "tessera-agent.env");
        Assert.Equal($"TESSERA_JOIN_TOKEN={token}\n", File.ReadAllText(envFile));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(envFile));
        var unit = File.ReadAllText(Path.Combine(Units, "tessera-agent.service"));
        Assert.Contains($"EnvironmentFile=-{envFile}\n", unit);
        Assert.Contains("User=root\n", unit);
        Assert.DoesNotContain(token, unit); // the unit file is world-readable
        Assert.DoesNotContain(token, stdout);
        var verify = await Verify(Path.Combine(Units, "tessera-agent.service"));
        Assert.True(verify.ExitCode == 0 && !verify.Output.Contains("tessera-agent", StringComparison.Ordinal), verify.Output);
    }

    [Fact]
    public async Task Install_WithAMalformedToken_FailsAndWritesNothing()
    {
        var (code, _, stderr) = await Tessera(["service", "install", "--role", "agent", "--token", "tsr1_garbage", "--output", Units, "--config-dir", Config]);

        Assert.Equal(2, code);
        Assert.Contains("join token is malformed", stderr);
        Assert.False(Directory.Exists(Units));
        Assert.False(Directory.Exists(Config));
    }

    [Fact]
    public async Task Print_WritesTheUnitToStandardOutputOnly()
    {
        var (code, stdout, stderr) = await Tessera(["service", "install", "--role", "coordinator", "--print", "--binary", Binary, "--output", Units]);

        Assert.True(code == 0, stderr);
        Assert.StartsWith("# Written by `tessera service install --role coordinator` (tessera ", stdout);
        Assert.Contains("[Install]\nWantedBy=multi-user.target\n", stdout);
        Assert.False(Directory.Exists(Units));
    }

    [Fact]
    public async Task Uninstall_RemovesTheUnitAndTheTokenFile_AndSaysWhereThePoolsFilesStay()
    {
        var token = new JoinToken("192.0.2.10:7470", new string('b', 64), "tok_test", "secret").Encode();
        Assert.Equal(0, (await Tessera(["service", "install", "--role", "agent", "--token", token, "--binary", Binary, "--output", Units, "--config-dir", Config])).ExitCode);

        var (code, stdout, stderr) = await Tessera(["service", "uninstall", "--role", "agent", "--output", Units, "--config-dir", Config]);

        Assert.True(code == 0, stderr);
        Assert.Empty(Directory.GetFiles(Units));
        Assert.Empty(Directory.GetFiles(Config));
        Assert.Contains("/var/lib/tessera-agent", stdout);
    }

    [Fact]
    public async Task AgentUnit_RestartedWithItsUsedToken_StartsFromTheSavedIdentity()
    {
        // arrange: a pool, and a token for one machine, as the unit's environment file holds it
        using var pool = new PoolTestHarness();
        await pool.StartCoordinatorAsync("--no-agent");
        using var api = pool.Api();
        var token = (await api.CreateTokenAsync("1h", "service test", CancellationToken.None, 1)).Token;
        var environment = new Dictionary<string, string?> { ["TESSERA_JOIN_TOKEN"] = token };
        string[] join = ["join", "--data-dir", pool.AgentDir("svc"), "--name", "svc", "--speed-probe-mb", "0"];

        // act: the first start joins; systemd's restart runs the same command with the same, now used, token
        var first = pool.Track(TesseraProcess.Start(join, environment: environment));
        await first.WaitForStdoutAsync("Joined pool", CommandTimeout);
        await first.StopAsync(CommandTimeout);
        var restarted = pool.Track(TesseraProcess.Start(join, environment: environment));

        // assert: it comes back as the same node instead of being refused (exit 3, which the unit would not restart)
        await restarted.WaitForStdoutAsync("Already a member", CommandTimeout);
        await pool.WaitForNodesAsync(n => n.Count == 1 && n[0].Name == "svc" && n[0].Connected, CommandTimeout, "svc back");
    }

    [Theory]
    [InlineData("/usr/local/bin/tessera", "/usr/local/bin/tessera")]
    [InlineData("gpu box", "\"gpu box\"")]
    [InlineData("100%", "100%%")]
    [InlineData("$HOME", "$$HOME")]
    [InlineData("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [InlineData("", "\"\"")]
    public void ExecStartWord_IsQuotedSoSystemdReadsItBackUnchanged(string word, string written)
    {
        Assert.Equal(written, SystemdUnit.Quote(word));
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> Tessera(string[] args) => TesseraProcess.RunAsync(args, CommandTimeout);

    private static async Task<(int ExitCode, string Output)> Verify(string unitPath)
    {
        var (code, stdout, stderr, _) = await ExternalProgram.RunAsync(SystemdAnalyzeTheoryAttribute.Path!, ["verify", "--man=no", unitPath], CommandTimeout);
        return (code, stdout + stderr);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Needs systemd-analyze (Debian's systemd package; CI installs it): skipped, with the reason, where it is missing.</summary>
public sealed class SystemdAnalyzeFactAttribute : FactAttribute
{
    public SystemdAnalyzeFactAttribute()
    {
        if (SystemdAnalyzeTheoryAttribute.SkipReason is { } reason)
            Skip = reason;
    }
}

/// <inheritdoc cref="SystemdAnalyzeFactAttribute"/>
public sealed class SystemdAnalyzeTheoryAttribute : TheoryAttribute
{
    private static readonly string[] Places = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"];

    public SystemdAnalyzeTheoryAttribute()
    {
        if (SkipReason is { } reason)
            Skip = reason;
    }

    public static string? Path => Places.FirstOrDefault(File.Exists);

    public static string? SkipReason => Path is null
        ? "systemd-analyze is not installed (Debian: apt-get install systemd), so the units cannot be verified here."
        : null;
}
