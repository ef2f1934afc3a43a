using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Tessera.Deploy;
using Tessera.Testing;
using Xunit.Abstractions;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Deploy;

/// <summary>
/// The coordinator is killed (-9) while streams run through it and started again on the same data directory: the
/// deployment comes back from SQLite, the agents reconnect and keep their stages (same servers, no second load), new
/// requests succeed within seconds with the failure-free text, and the streams that ran through the dead coordinator
/// end broken (their clients resume by sending the request again, as docs/api.md says).
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class DeployCoordinatorRestartProcessTests(DeployPoolFixture pool, ITestOutputHelper output) : IClassFixture<DeployPoolFixture>
{
    private const int Tokens = 40;
    private const string StageServes = "serves on";
    private static readonly string[] Prompts = ["Once upon a time", "The little dog"];

    [Fact]
    public async Task CoordinatorKilledMidStream_RestartsWithTheDeployment_StagesKeepTheirWeights_AndNewRequestsGetTheFailureFreeText()
    {
        var timer = Stopwatch.StartNew();
        // arrange: a deployment over the three agents (f16 activations, as users get by default)
        var model = TestPaths.Model("tiny-a-q8_0.gguf");
        var deploy = await pool.RunAsync("deploy", model, "--name", "tiny-c", "--min-stages", "3", "--activations", "f16", "--threads", "1",
            "--context", "256", "--max-sessions", "4", "--timeout", "60s");
        Assert.True(deploy.ExitCode == 0, $"{deploy.Stdout}\n{deploy.Stderr}\n{pool.Logs}");
        List<StageView> before;
        using (var api = pool.Client())
            before = (await api.GetAsync("tiny-c", CancellationToken.None)).Stages.ToList();
        Assert.Equal(3, before.Count);
        var loadsBefore = pool.Agents.Sum(a => Occurrences(a.Output, StageServes));
        Assert.Equal(3, loadsBefore);
        // the failure-free reference: the same request through the same pipeline before anything fails
        string expected;
        using (var http = pool.OpenAi())
        {
            var reference = await CompletionStreams.StreamAsync(http, "tiny-c", Prompts[0], Tokens, null);
            Assert.True(reference.Error is null, reference.Error);
            expected = reference.Text;
        }

        // act: two streams; kill -9 the coordinator after the first stream's third piece of text
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        CompletionStreams.StreamResult[] broken;
        using (var http = pool.OpenAi())
        {
            var streams = Enumerable.Range(0, Prompts.Length).Select(i => CompletionStreams.StreamAsync(http, "tiny-c", Prompts[i], Tokens, pieces =>
            {
                if (i == 0 && pieces == 3 && killed.TrySetResult())
                    pool.Harness.Coordinator!.Kill();
            })).ToList();
            broken = await Task.WhenAll(streams).WaitAsync(TimeSpan.FromSeconds(60));
        }
        Assert.True(killed.Task.IsCompleted, "the first stream ended before the kill");

        // assert: the stream cut by the kill ends with an error the client can see, not a hang or a short success
        output.WriteLine($"stream 0 after the kill: {broken[0].Error} ({broken[0].Text.Length} characters)");
        Assert.NotNull(broken[0].Error);
        Assert.True(expected.StartsWith(broken[0].Text, StringComparison.Ordinal), "the text before the kill is a prefix of the reference");

        // act: start the coordinator again on the same data directory; send the request until it is served
        var restart = Stopwatch.StartNew();
        await pool.Harness.StartCoordinatorAsync("--no-agent");
        var listening = restart.Elapsed;
        var refusals = new List<string>();
        CompletionStreams.StreamResult? served = null;
        using (var http = pool.OpenAi())
        {
            while (restart.Elapsed < TimeSpan.FromSeconds(90))
            {
                var attempt = await CompletionStreams.StreamAsync(http, "tiny-c", Prompts[0], Tokens, null);
                if (attempt.Error is null)
                {
                    served = attempt;
                    break;
                }
                refusals.Add(attempt.Error);
                await Task.Delay(250);
            }
        }
        var servedAfter = restart.Elapsed;
        output.WriteLine($"coordinator listening {listening.TotalSeconds:F1} s after the restart began; first request served after {servedAfter.TotalSeconds:F1} s; "
            + $"{refusals.Count} refusals before: {string.Join(" | ", refusals.Distinct().Select(r => r.Length > 160 ? r[..160] : r))}");

        // assert: served with the failure-free text; until then only retryable 503s (not 404: the deployment is known)
        Assert.True(served is not null, $"no request served within 90 s of the restart: {string.Join("\n", refusals)}\n{pool.Logs}");
        Assert.Equal(expected, served.Text);
        Assert.All(refusals, r => Assert.StartsWith("503", r, StringComparison.Ordinal));

        // the agents kept their stages: same servers, no second load, and the events say so in words
        List<StageView> after;
        using (var api = pool.Client())
            after = (await api.GetAsync("tiny-c", CancellationToken.None)).Stages.ToList();
        Assert.All(after, s => Assert.Equal(StageStates.Ready, s.State));
        Assert.Equal(before.Select(s => (s.NodeId, s.FirstLayer, s.LastLayer, s.Endpoint)), after.Select(s => (s.NodeId, s.FirstLayer, s.LastLayer, s.Endpoint)));
        Assert.Equal(loadsBefore, pool.Agents.Sum(a => Occurrences(a.Output, StageServes)));
        Assert.All(pool.Agents, a => Assert.False(a.HasExited, a.Output));
        var events = await pool.WaitForEventsAsync(TimeSpan.FromSeconds(20), "reattached");
        output.WriteLine(events);
        Assert.Contains("Deployment tiny-c: reattached to its 3 running stages, which kept their loaded weights", events);

        output.WriteLine($"whole test {timer.Elapsed.TotalSeconds:F1} s");
        Assert.True(servedAfter < TimeSpan.FromSeconds(90), $"first request served after {servedAfter}"); // a bound against hangs, not a speed target
    }

    private static int Occurrences(string text, string what)
    {
        var count = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
            count++;
        return count;
    }
}
