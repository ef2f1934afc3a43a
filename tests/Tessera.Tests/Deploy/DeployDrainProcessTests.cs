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
/// A drained node costs a pause, not a request: `tessera node drain` the node of the middle stage while two streams run
/// through the coordinator's /v1; the controller starts the replacement stage first, moves the pipeline onto it and stops
/// the old one, and both streams finish with the text of a run without the drain.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class DeployDrainProcessTests(SpareAgentPoolFixture pool, ITestOutputHelper output) : IClassFixture<SpareAgentPoolFixture>
{
    // Long enough that the streams are still running when the drained stages are switched (tiny-a decodes fast).
    private const int Tokens = 200;
    private static readonly string[] Prompts = ["Once upon a time", "The little dog"];

    [Fact]
    public async Task NodeOfTheMiddleStageDrainedMidStream_BothStreamsFinishWithTheDrainFreeText_AndNoStageStaysOnIt()
    {
        var timer = Stopwatch.StartNew();
        // arrange: the drain-free reference (one process, greedy), and a deployment over three of the four agents
        var model = TestPaths.Model("tiny-a-q8_0.gguf");
        var expected = await CompletionStreams.ReferencesAsync(model, Prompts, Tokens);
        var before = await pool.DeployThreeStagesAsync(model, "tiny-d");
        using var api = pool.Client();
        var middle = before.Stages[1];
        var drained = pool.Agent(middle.NodeName);

        // act: two greedy streams; drain the middle stage's node after the first stream's third piece of text
        using var http = pool.OpenAi();
        var drainStarted = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<(int ExitCode, string Stdout, string Stderr)>? drain = null;
        var streams = Enumerable.Range(0, Prompts.Length).Select(i => CompletionStreams.StreamAsync(http, "tiny-d", Prompts[i], Tokens, pieces =>
        {
            if (i == 0 && pieces == 3 && drainStarted.TrySetResult(Stopwatch.GetTimestamp()))
                drain = pool.RunAsync("node", "drain", middle.NodeName);
        })).ToList();
        var results = await Task.WhenAll(streams).WaitAsync(TimeSpan.FromSeconds(150));

        // assert: the drain happened mid-stream, both streams finished with the reference text
        Assert.True(drainStarted.Task.IsCompleted, "the first stream ended before the drain");
        var drainRun = await drain!;
        Assert.True(drainRun.ExitCode == 0, drainRun.Stdout + drainRun.Stderr);
        var drainedAt = await drainStarted.Task;
        var longestGap = results.Max(r => r.LongestGapAfter(drainedAt));
        output.WriteLine($"middle stage (layers [{middle.FirstLayer}, {middle.LastLayer})) on {middle.NodeName} drained; longest gap a client saw after: {longestGap.TotalSeconds:F2} s");
        for (var i = 0; i < Prompts.Length; i++)
        {
            Assert.True(results[i].Error is null, $"stream {i}: {results[i].Error}\n{pool.Logs}");
            Assert.Equal(expected[i], results[i].Text);
        }

        // the stages leave the drained node (which stays up), the pipeline still covers the model, the events say it in words
        var events = await pool.WaitForEventsAsync(TimeSpan.FromSeconds(30), "drained node", "sessions resumed after");
        output.WriteLine(events);
        var after = await api.GetAsync("tiny-d", CancellationToken.None);
        output.WriteLine("after: " + string.Join(", ", after.Stages.Select(s => $"{s.NodeName} [{s.FirstLayer}, {s.LastLayer}) {s.State}")));
        Assert.False(drained.HasExited);
        Assert.DoesNotContain(after.Stages, s => s.NodeId == middle.NodeId);
        Assert.All(after.Stages, s => Assert.Equal(StageStates.Ready, s.State));
        Assert.Equal(0, after.Stages[0].FirstLayer);
        Assert.Equal(before.Stages[^1].LastLayer, after.Stages[^1].LastLayer);
        for (var i = 1; i < after.Stages.Count; i++)
            Assert.Equal(after.Stages[i - 1].LastLayer, after.Stages[i].FirstLayer);
        Assert.Contains($"drained node {middle.NodeName}: moved layer", events);
        Assert.Contains("sessions resumed after", events);

        // a new request is served by the new pipeline
        var again = await CompletionStreams.StreamAsync(http, "tiny-d", Prompts[0], Tokens, null);
        Assert.Equal(expected[0], again.Text);
        output.WriteLine($"whole test {timer.Elapsed.TotalSeconds:F1} s");
        Assert.True(timer.Elapsed < TimeSpan.FromSeconds(180), $"took {timer.Elapsed}"); // a bound against hangs, not a speed target
    }
}
