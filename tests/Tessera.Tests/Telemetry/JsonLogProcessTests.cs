using System.Text.Json;
using Tessera.Testing;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Telemetry;

/// <summary><c>--log-format json</c> on the long-running commands, run for a few seconds as real processes: every line they write is one JSON object.</summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class JsonLogProcessTests
{
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task PoolStartAndJoin_WithJsonLogs_WriteOneJsonObjectPerLine_WithTimeLevelCategoryAndMessage()
    {
        // Arrange: a coordinator with its own agent, logging JSON.
        using var harness = new PoolTestHarness();
        var coordinator = harness.Track(TesseraProcess.Start(["pool", "start", "--data-dir", harness.CoordinatorDir, "--listen", "127.0.0.1:0",
            "--speed-probe-mb", "8", "--log-format", "json"]));
        await coordinator.WaitForStderrAsync("Connected to pool", Ready);
        var token = Messages(coordinator.Stderr).Select(m => m.Message).Single(m => m.StartsWith("tessera join ", StringComparison.Ordinal))["tessera join ".Length..];

        // Act: a machine joins with the token the banner logged, logging JSON too; then both stop.
        var agent = harness.Track(TesseraProcess.Start(["join", token, "--name", "json-agent", "--data-dir", harness.AgentDir("json-agent"),
            "--speed-probe-mb", "8", "--log-format", "json"]));
        await agent.WaitForStderrAsync("Connected to pool", Ready);
        await agent.StopAsync(TimeSpan.FromSeconds(10));
        await coordinator.StopAsync(TimeSpan.FromSeconds(10));

        // Assert: nothing but JSON objects, on stderr; the banner and what join says are among them, as Tessera.Cli's.
        foreach (var process in new[] { coordinator, agent })
            Assert.True(process.Stdout.Trim().Length == 0, process.Output);
        var coordinatorLog = Messages(coordinator.Stderr);
        var agentLog = Messages(agent.Stderr);
        Assert.Contains(coordinatorLog, m => m.Category == "Tessera.Cli" && m.Level == "Information" && m.Message.StartsWith("Pool pool_", StringComparison.Ordinal));
        Assert.Contains(coordinatorLog, m => m.Category == "Tessera.Cli" && m.Message.StartsWith("Coordinator stopping", StringComparison.Ordinal));
        Assert.Contains(coordinatorLog, m => m.Category.StartsWith("Tessera.Pool", StringComparison.Ordinal) && m.Message.Contains("json-agent", StringComparison.Ordinal));
        Assert.Contains(agentLog, m => m.Category == "Tessera.Cli" && m.Message.StartsWith("Joined pool", StringComparison.Ordinal));
        Assert.Contains(agentLog, m => m.Category.EndsWith("AgentRunner", StringComparison.Ordinal) && m.Message.StartsWith("Connected to pool", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Serve_WithJsonLogs_WritesOneJsonObjectPerLine_AndNothingElse_EvenTheErrorThatStopsIt()
    {
        var folder = Directory.CreateTempSubdirectory("tessera-json-serve-").FullName;
        try
        {
            string[] Serve(string listen) => ["serve", "--model", TestPaths.Model("tiny-a-q8_0.gguf"), "--listen", listen, "--api-key", "tsk_json",
                "--threads", "1", "--context", "256", "--batch-dir", Path.Combine(folder, "batches"), "--log-format", "json"];
            using var serve = TesseraProcess.Start(Serve("127.0.0.1:0"));
            await serve.WaitForStderrAsync("Press Ctrl+C", Ready);
            var port = new Uri(Messages(serve.Stderr).Select(m => m.Message).Single(m => m.StartsWith("Metrics: ", StringComparison.Ordinal)).Split(' ')[1]).Port;

            // A second server on the same port fails, and says why in JSON too.
            var (code, stdout, stderr) = await TesseraProcess.RunAsync(Serve($"127.0.0.1:{port}"), Ready);
            await serve.StopAsync(TimeSpan.FromSeconds(10));

            Assert.True(serve.Stdout.Trim().Length == 0, serve.Output);
            var log = Messages(serve.Stderr);
            Assert.Contains(log, m => m.Category == "Tessera.Cli" && m.Message.StartsWith("Serving tiny-a-q8_0", StringComparison.Ordinal));
            Assert.Contains(log, m => m.Message == $"Metrics: http://127.0.0.1:{port}/metrics (Prometheus, with the same key)");
            Assert.Equal(2, code);
            Assert.Equal("", stdout.Trim());
            Assert.Contains(Messages(stderr), m => m.Level == "Error" && m.Message.StartsWith($"Cannot listen on 127.0.0.1:{port}", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private sealed record Entry(DateTimeOffset Timestamp, string Level, string Category, string Message);

    /// <summary>Every line of <paramref name="output"/>, each of which must be one JSON object with a time, a level, a category and a message.</summary>
    private static List<Entry> Messages(string output)
    {
        var entries = new List<Entry>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            JsonElement json;
            try
            {
                json = JsonDocument.Parse(line).RootElement;
            }
            catch (JsonException e)
            {
                Assert.Fail($"not a JSON line ({e.Message}): {line}");
                throw;
            }
            Assert.Equal(JsonValueKind.Object, json.ValueKind);
            entries.Add(new Entry(DateTimeOffset.Parse(json.GetProperty("Timestamp").GetString()!, System.Globalization.CultureInfo.InvariantCulture),
                json.GetProperty("LogLevel").GetString()!, json.GetProperty("Category").GetString()!, json.GetProperty("Message").GetString()!));
        }
        Assert.NotEmpty(entries);
        return entries;
    }
}
