using System.Text.Json;
using Tessera.Cli.Commands;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Chaos;

/// <summary>
/// The short form of `tessera chaos` as CI runs it: three agent processes, two streaming clients (greedy and seeded),
/// 25 s with a kill every 8 s (agents, and the coordinator once), then a burst beyond capacity; and a second short run
/// with the gray failures (an agent stopped, an agent slowed, a link cut). No request may fail and no text may differ
/// from the failure-free one; the burst gets only 200s and 429s with Retry-After.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class ChaosProcessTests(ITestOutputHelper output)
{
    /// <summary>
    /// Runs <c>tessera chaos</c> on tiny-a with three agents, two stages and two clients plus <paramref name="options"/>,
    /// as one CLI process whose children live under a temporary folder; checks what every run must (requests were
    /// started, none failed or differed, every one completed, the process exited 0) and returns the JSON report.
    /// </summary>
    private async Task<JsonDocument> RunChaosAsync(IEnumerable<string> options, TimeSpan bound)
    {
        var root = Directory.CreateTempSubdirectory("tessera-chaos-test-").FullName;
        try
        {
            var run = await TesseraProcess.RunAsync(["chaos", "--model", TestPaths.Model("tiny-a-q8_0.gguf"), "--agents", "3", "--stages", "2", "--clients", "2",
                "--tokens", "24", .. options, "--data-dir", Path.Combine(root, "pool"), "--output", "json"], bound);
            output.WriteLine(run.Stderr);
            output.WriteLine(run.Stdout);
            var report = JsonDocument.Parse(run.Stdout);
            var r = report.RootElement;
            int Int(string name) => r.GetProperty(name).GetInt32();
            Assert.True(Int("started") > 0);
            Assert.Equal(0, Int("failed"));
            Assert.Equal(0, Int("differing"));
            Assert.Equal(Int("started"), Int("completed"));
            Assert.True(r.GetProperty("targets_met").GetBoolean());
            Assert.Equal(0, run.ExitCode);
            return report;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task ChaosShortRun_KillsAgentsAndTheCoordinator_NoRequestFailsOrDiffers_AndTheBurstIsBounded()
    {
        // act (a bound against hangs, not a speed target)
        using var report = await RunChaosAsync(["--faults", "kill", "--duration", "25s", "--kill-every", "8s", "--restart-after", "1s", "--burst", "150"], TimeSpan.FromMinutes(6));

        // assert: beyond no failed or differing request
        var r = report.RootElement;
        int Int(string name) => r.GetProperty(name).GetInt32();
        Assert.True(Int("agent_kills") >= 1, "at least one agent was killed");
        Assert.Equal(1, Int("coordinator_kills"));
        Assert.Equal(0, Int("kills_not_healed"));
        var burst = r.GetProperty("burst");
        Assert.Equal(0, burst.GetProperty("other").GetInt32());
        Assert.Equal(0, burst.GetProperty("refused429_without_retry_after").GetInt32());
        Assert.True(burst.GetProperty("refused429").GetInt32() > 0, "the burst went beyond the queue's bound");
    }

    [Fact]
    public async Task ChaosShortRun_StopsSlowsAndCutsAgents_NoRequestFailsOrDiffers_AndEveryFaultIsInjected()
    {
        // arrange: the cut needs agents on hosts of their own (root, iproute2); without them the run stops and slows only
        var namespaces = VirtualHosts.Unavailable() is null;
        string[] faults = namespaces ? ["stop", "slow", "cut"] : ["stop", "slow"];
        if (!namespaces)
            output.WriteLine($"cut not tested: {VirtualHosts.Unavailable()}");

        // act: one slot per fault (8 s apart), no coordinator kill and no burst: the kill test has those
        using var report = await RunChaosAsync(["--faults", string.Join(',', faults), .. namespaces ? ["--namespaces"] : Array.Empty<string>(),
            "--duration", $"{faults.Length * 8 + 1}s", "--kill-every", "8s", "--burst", "0"], TimeSpan.FromMinutes(6));

        // assert: every fault asked for was injected, and healed from
        var r = report.RootElement;
        Assert.Equal(0, r.GetProperty("faults_not_healed").GetInt32());
        var injected = r.GetProperty("fault_kinds").EnumerateArray().ToDictionary(k => k.GetProperty("kind").GetString()!, k => k.GetProperty("injected").GetInt32());
        Assert.All(faults, f => Assert.True(injected.GetValueOrDefault(f) >= 1, $"{f} was not injected"));
    }

    [Fact]
    public async Task ChaosWithNoFaultButBusyCores_MarksNoNodeDown_AndMovesNoStage()
    {
        // act: two threads of busy loops beside the agents on (in CI) two cores, nothing injected
        using var report = await RunChaosAsync(["--faults", "none", "--cpu-hog", "2", "--duration", "20s", "--burst", "0"], TimeSpan.FromMinutes(4));

        // assert: a loaded machine is slow, not failing: no false alarm of any kind
        var r = report.RootElement;
        Assert.Equal(2, r.GetProperty("cpu_hog_threads").GetInt32());
        Assert.Empty(r.GetProperty("faults").EnumerateArray());
        var unprovoked = r.GetProperty("unprovoked");
        Assert.Equal((0, 0, 0, 0), (unprovoked.GetProperty("downs").GetInt32(), unprovoked.GetProperty("moves").GetInt32(),
            unprovoked.GetProperty("replays").GetInt32(), unprovoked.GetProperty("alarms").GetInt32()));
    }

    [NetworkNamespaceFact(BehindNat = true)]
    public async Task ChaosWithNoFaultButBusyCoresAndJitteryLinks_MarksNoNodeDown_AndMovesNoStage()
    {
        // act: every link between agents 40 ms ± 20 ms a round trip, two threads of busy loops, nothing injected
        using var report = await RunChaosAsync(["--faults", "none", "--namespaces", "--link-delay", "40ms:20ms", "--cpu-hog", "2", "--duration", "20s", "--burst", "0"],
            TimeSpan.FromMinutes(4));

        // assert: slow, jittery links and a loaded machine are no failure: no false alarm of any kind
        var unprovoked = report.RootElement.GetProperty("unprovoked");
        Assert.Equal((0, 0, 0, 0), (unprovoked.GetProperty("downs").GetInt32(), unprovoked.GetProperty("moves").GetInt32(),
            unprovoked.GetProperty("replays").GetInt32(), unprovoked.GetProperty("alarms").GetInt32()));
        Assert.True(report.RootElement.GetProperty("completed").GetInt32() > 0, report.RootElement.ToString());
    }

    [Theory]
    [InlineData("--link-delay", "40ms", "--link-delay needs --namespaces")]
    [InlineData("--faults", "kill,bogus", "Unknown fault 'bogus' in --faults; the faults are kill, stop, slow and cut")]
    [InlineData("--faults", "cut", "--faults cut needs --namespaces")]
    [InlineData("--stages", "5", "--stages must be between 1 and --agents")]
    [InlineData("--duration", "5s", "leaves no room for a kill")]
    [InlineData("--activations", "f8", "Unknown activation format 'f8'")]
    public async Task ChaosWithBadSettings_ExitsWithAClearMessage_BeforeStartingAnything(string option, string value, string message)
    {
        var run = await TesseraProcess.RunAsync(["chaos", "--agents", "3", option, value, "--data-dir", "/nonexistent/never-made"], TimeSpan.FromSeconds(60));
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr);
        Assert.False(Directory.Exists("/nonexistent/never-made"));
    }
}
