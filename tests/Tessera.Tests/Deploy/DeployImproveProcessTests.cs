using System.Diagnostics;
using Tessera.Cli.Commands;
using Tessera.Deploy;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Deploy;

/// <summary>
/// A coordinator that looks for better plans every few seconds and three agents with declared speeds: agent-fast
/// (4 GB/s) and two slow ones (1 GB/s), so that placement does not depend on what this machine measures (nor on
/// what its stages' step times show: the coordinator does not observe them here).
/// </summary>
public sealed class ImprovePoolFixture : DeployPoolFixture
{
    public const string Fast = "agent-fast";

    protected override IReadOnlyList<string> AgentNames => ["agent-a", "agent-b", Fast];

    protected override IReadOnlyList<string> CoordinatorArguments => ["--improve-interval", "5s", "--observe-interval", "off"];

    protected override IReadOnlyList<string> AgentArguments(string name) => ["--speed-gbps", name == Fast ? "4" : "1"];
}

/// <summary>
/// A node comes back and the plan improves without interrupting sessions: the fast node's agent is killed (the
/// deployment is re-planned onto a slow node), then restarted while streams run; the controller finds the plan with the
/// fast node again worth the move, starts its stages first, switches the pipeline and stops the old ones, and every
/// stream keeps the failure-free text.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class DeployImproveProcessTests(ImprovePoolFixture pool, ITestOutputHelper output) : IClassFixture<ImprovePoolFixture>
{
    private const int Tokens = 200;
    private static readonly string[] Prompts = ["Once upon a time", "The little dog"];

    [Fact]
    public async Task FastNodeKilledThenRestarted_PlanMovesBackOntoIt_WhileStreamsRunWithTheFailureFreeText()
    {
        var timer = Stopwatch.StartNew();
        // arrange: the failure-free references, and a two-stage deployment that uses the fast node
        var model = TestPaths.Model("tiny-a-q8_0.gguf");
        var expected = await CompletionStreams.ReferencesAsync(model, Prompts, Tokens);
        await pool.DeployAsync(model, "tiny-i", minStages: 2);
        using var api = pool.Client();
        // A node that missed heartbeats on this busy machine when the deployment was planned is left out; the improver then
        // moves the deployment onto it within seconds, so either way the plan uses the fast node before the kill.
        var planned = await pool.WaitForPlanAsync("tiny-i", d => d.Stages.Any(s => s.NodeName == ImprovePoolFixture.Fast), TimeSpan.FromSeconds(60), "a plan with the fast node");
        // The improver may still be moving more layers onto the fast node; killing it mid-move would fail that move and
        // back off for minutes. Wait until the plan stays put over more than one improvement interval (5 s).
        planned = await pool.WaitForSettledPlanAsync("tiny-i", TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(60));
        output.WriteLine("planned: " + DeployPoolFixture.Describe(planned));

        // the fast node is lost: the deployment is re-planned onto the slow nodes
        pool.Agent(ImprovePoolFixture.Fast).Kill();
        var degraded = await pool.WaitForPlanAsync("tiny-i", d => d.Stages.All(s => s.NodeName != ImprovePoolFixture.Fast), TimeSpan.FromSeconds(60), "a plan without the fast node");
        output.WriteLine("after the kill: " + DeployPoolFixture.Describe(degraded));
        var improvedBefore = await CountAsync("plan improved");

        // act: streams run back to back on two clients; the fast node's agent comes back meanwhile
        using var http = pool.OpenAi();
        using var done = new CancellationTokenSource();
        var results = new List<CompletionStreams.StreamResult>[Prompts.Length];
        var clients = Enumerable.Range(0, Prompts.Length).Select(i => Task.Run(async () =>
        {
            results[i] = [];
            while (!done.IsCancellationRequested)
                results[i].Add(await CompletionStreams.StreamAsync(http, "tiny-i", Prompts[i], Tokens, null));
        })).ToList();
        pool.RestartAgent(ImprovePoolFixture.Fast);
        var events = await pool.WaitForEventsAsync(TimeSpan.FromSeconds(120), $"node {ImprovePoolFixture.Fast} returned", "sessions resumed after");
        await done.CancelAsync();
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(90));
        output.WriteLine(events);

        // assert: every stream finished with the reference text; the move happened while sessions ran
        var all = results.SelectMany((r, i) => r.Select(x => (Prompt: i, Result: x))).ToList();
        output.WriteLine($"{all.Count} streams");
        foreach (var (prompt, result) in all)
        {
            Assert.True(result.Error is null, $"stream of prompt {prompt}: {result.Error}\n{pool.Logs}");
            Assert.Equal(expected[prompt], result.Text);
        }
        Assert.True(events.Contains("plan improved: ", StringComparison.Ordinal), $"no improvement within the wait; events:\n{events}\n{pool.Logs}");
        Assert.Contains($"node {ImprovePoolFixture.Fast} returned", events);
        Assert.Contains($"to node {ImprovePoolFixture.Fast}", events);
        Assert.Contains("tokens/s", events);
        Assert.Contains("sessions resumed after", events);
        Assert.Equal(improvedBefore + 1, await CountAsync("plan improved")); // one move: no flapping back and forth

        // the plan uses the fast node again, covers the model, and serves new requests
        var after = await api.GetAsync("tiny-i", CancellationToken.None);
        output.WriteLine("after the return: " + DeployPoolFixture.Describe(after));
        Assert.Contains(after.Stages, s => s.NodeName == ImprovePoolFixture.Fast);
        Assert.All(after.Stages, s => Assert.Equal(StageStates.Ready, s.State));
        Assert.Equal(0, after.Stages[0].FirstLayer);
        Assert.Equal(planned.Stages[^1].LastLayer, after.Stages[^1].LastLayer);
        for (var i = 1; i < after.Stages.Count; i++)
            Assert.Equal(after.Stages[i - 1].LastLayer, after.Stages[i].FirstLayer);
        Assert.True(after.PredictedTokensPerSecond > degraded.PredictedTokensPerSecond);
        var again = await CompletionStreams.StreamAsync(http, "tiny-i", Prompts[0], Tokens, null);
        Assert.Equal(expected[0], again.Text);
        output.WriteLine($"whole test {timer.Elapsed.TotalSeconds:F1} s");
        Assert.True(timer.Elapsed < TimeSpan.FromSeconds(300), $"took {timer.Elapsed}"); // a bound against hangs, not a speed target
    }

    private async Task<int> CountAsync(string text)
    {
        var events = await pool.RunAsync("events", "--limit", "200", "--output", "json");
        return events.Stdout.Split(text).Length - 1;
    }
}
