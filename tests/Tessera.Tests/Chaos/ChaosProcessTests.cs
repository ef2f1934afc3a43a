using System.Text.Json;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Chaos;

/// <summary>
/// The short form of `tessera chaos` as CI runs it: three agent processes, two streaming clients (greedy and seeded),
/// 25 s with a kill every 8 s (agents, and the coordinator once), then a burst beyond capacity. No request may fail
/// and no text may differ from the failure-free one; the burst gets only 200s and 429s with Retry-After.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class ChaosProcessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ChaosShortRun_KillsAgentsAndTheCoordinator_NoRequestFailsOrDiffers_AndTheBurstIsBounded()
    {
        // arrange
        var root = Directory.CreateTempSubdirectory("tessera-chaos-test-").FullName;
        try
        {
            // act: the whole run is one CLI process; its children live under root
            var run = await TesseraProcess.RunAsync(["chaos", "--model", TestPaths.Model("tiny-a-q8_0.gguf"), "--agents", "3", "--stages", "2", "--clients", "2",
                "--duration", "25s", "--kill-every", "8s", "--restart-after", "1s", "--tokens", "24", "--burst", "150", "--data-dir", Path.Combine(root, "pool"),
                "--output", "json"], TimeSpan.FromMinutes(6)); // a bound against hangs, not a speed target
            output.WriteLine(run.Stderr);
            output.WriteLine(run.Stdout);

            // assert
            using var report = JsonDocument.Parse(run.Stdout);
            var r = report.RootElement;
            int Int(string name) => r.GetProperty(name).GetInt32();
            Assert.True(Int("started") > 0);
            Assert.Equal(0, Int("failed"));
            Assert.Equal(0, Int("differing"));
            Assert.Equal(Int("started"), Int("completed"));
            Assert.True(Int("agent_kills") >= 1, "at least one agent was killed");
            Assert.Equal(1, Int("coordinator_kills"));
            Assert.Equal(0, Int("kills_not_healed"));
            var burst = r.GetProperty("burst");
            Assert.Equal(0, burst.GetProperty("other").GetInt32());
            Assert.Equal(0, burst.GetProperty("refused429_without_retry_after").GetInt32());
            Assert.True(burst.GetProperty("refused429").GetInt32() > 0, "the burst went beyond the queue's bound");
            Assert.True(r.GetProperty("targets_met").GetBoolean());
            Assert.Equal(0, run.ExitCode);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
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
