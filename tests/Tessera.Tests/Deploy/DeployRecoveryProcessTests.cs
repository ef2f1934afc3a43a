using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Tessera.Deploy;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Deploy;

/// <summary>
/// A lost agent costs a pause, not a request: kill -9 the agent holding the middle stage while two streams run through
/// the coordinator's /v1; the controller re-plans without the lost node and both streams finish with the text of a run
/// without failure.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class DeployRecoveryProcessTests(SpareAgentPoolFixture pool, ITestOutputHelper output) : IClassFixture<SpareAgentPoolFixture>
{
    private const int Tokens = 40;
    private static readonly string[] Prompts = ["Once upon a time", "The little dog"];

    [Fact]
    public async Task AgentOfTheMiddleStageKilledMidStream_BothStreamsFinishWithTheFailureFreeText_AndEventsTellTheRecovery()
    {
        var timer = Stopwatch.StartNew();
        // arrange: the failure-free reference (one process, greedy), and a deployment over three of the four agents
        var model = TestPaths.Model("tiny-a-q8_0.gguf");
        var expected = await CompletionStreams.ReferencesAsync(model, Prompts, Tokens);
        var before = await pool.DeployThreeStagesAsync(model, "tiny-r");
        using var api = pool.Client();
        var middle = before.Stages[1];
        var victim = pool.Agent(middle.NodeName);

        // act: two greedy streams; kill -9 the middle stage's agent after the first stream's third piece of text
        using var http = pool.OpenAi();
        var killedAt = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var streams = Enumerable.Range(0, Prompts.Length).Select(i => CompletionStreams.StreamAsync(http, "tiny-r", Prompts[i], Tokens, pieces =>
        {
            if (i == 0 && pieces == 3 && !killedAt.Task.IsCompleted)
            {
                victim.Kill();
                killedAt.TrySetResult(Stopwatch.GetTimestamp());
            }
        })).ToList();
        var results = await Task.WhenAll(streams).WaitAsync(TimeSpan.FromSeconds(60));

        // assert: the kill happened mid-stream, both streams finished with the reference text
        Assert.True(killedAt.Task.IsCompleted, "the first stream ended before the kill");
        Assert.True(victim.HasExited);
        var killed = await killedAt.Task;
        var longestGap = results.Max(r => r.LongestGapAfter(killed));
        output.WriteLine($"middle stage (layers [{middle.FirstLayer}, {middle.LastLayer})) on {middle.NodeName} killed; longest pause a client saw: {longestGap.TotalSeconds:F2} s");
        for (var i = 0; i < Prompts.Length; i++)
        {
            Assert.True(results[i].Error is null, $"stream {i}: {results[i].Error}\n{pool.Logs}");
            Assert.Equal(expected[i], results[i].Text);
        }

        // the deployment no longer uses the lost node, still covers the model, and the events say what happened in words
        var after = await api.GetAsync("tiny-r", CancellationToken.None);
        output.WriteLine("after: " + string.Join(", ", after.Stages.Select(s => $"{s.NodeName} [{s.FirstLayer}, {s.LastLayer}) {s.State}")));
        Assert.DoesNotContain(after.Stages, s => s.NodeId == middle.NodeId);
        Assert.All(after.Stages, s => Assert.Equal(StageStates.Ready, s.State));
        Assert.Equal(0, after.Stages[0].FirstLayer);
        Assert.Equal(before.Stages[^1].LastLayer, after.Stages[^1].LastLayer);
        for (var i = 1; i < after.Stages.Count; i++)
            Assert.Equal(after.Stages[i - 1].LastLayer, after.Stages[i].FirstLayer);
        var events = await pool.WaitForEventsAsync(TimeSpan.FromSeconds(30), "sessions resumed after");
        output.WriteLine(events);
        Assert.Contains($"lost with node {middle.NodeName}", events);
        Assert.Contains("moved layer", events);
        Assert.Contains("sessions resumed after", events);

        // /metrics counts the recovery, the re-plan that dropped the lost node and the pauses the sessions saw
        // (and the killed node out of ready)
        var metrics = await pool.WaitForScrapeAsync(m => m.Sum("tessera_pipeline_pause_seconds_count", ("deployment", "tiny-r")) >= 1
            && m.Sum("tessera_node_state", ("node", middle.NodeName), ("state", "ready")) == 0, "the pause, and the killed node out of ready");
        Assert.True(metrics.Sum("tessera_pipeline_recoveries_total", ("deployment", "tiny-r")) >= 1);
        Assert.True(metrics.Sum("tessera_deployment_replans_total", ("deployment", "tiny-r"), ("reason", "node_lost")) >= 1);

        // a new request is served by the new pipeline
        var again = await CompletionStreams.StreamAsync(http, "tiny-r", Prompts[0], Tokens, null);
        Assert.Equal(expected[0], again.Text);
        output.WriteLine($"whole test {timer.Elapsed.TotalSeconds:F1} s");
        Assert.True(timer.Elapsed < TimeSpan.FromSeconds(180), $"took {timer.Elapsed}"); // a bound against hangs, not a speed target
    }
}
