using System.Diagnostics;
using Tessera.Cli.Commands;
using Tessera.Deploy;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Deploy;

/// <summary>
/// The coordinator on a bridge in this namespace and four agents on hosts of their own (network namespaces), all on one
/// LAN, with declared equal speeds (and no speeds learned from step times, so re-plans depend on the links only). Builds nothing when namespaces are not available here (the test is skipped then).
/// </summary>
public class NamespacePoolFixture : DeployPoolFixture
{
    internal VirtualHosts? Hosts { get; private set; }

    protected override IReadOnlyList<string> AgentNames => ["agent-a", "agent-b", "agent-c", "agent-d"];

    /// <summary>Agents on hosts behind NAT (a subclass may put some there).</summary>
    protected virtual IReadOnlyList<string> BehindNat => [];

    /// <summary>Called once the hosts exist, before any agent starts (a subclass may shape their links).</summary>
    private protected virtual void OnHostsBuilt(VirtualHosts hosts)
    {
    }

    /// <summary>Why this pool cannot be built here (the test is skipped then), or null.</summary>
    protected virtual string? SkipReason => NetworkNamespaceFactAttribute.SkipReason;

    protected override IReadOnlyList<string> CoordinatorArguments => ["--listen", Hosts!.CoordinatorIp + ":0", "--no-improve", "--observe-interval", "off"];

    protected override IReadOnlyList<string> AgentArguments(string name) => ["--speed-gbps", "1"];

    protected override string? NamespaceOf(string name) => Hosts!.NamespaceOf(name);

    public override async Task InitializeAsync()
    {
        if (SkipReason is not null)
            return;
        Hosts = new VirtualHosts(AgentNames, BehindNat);
        OnHostsBuilt(Hosts);
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Hosts?.Dispose();
    }
}

/// <summary>
/// A cut link between two stages is routed around like a dead node: while two streams run, the link between the hosts
/// of the first and second stage is cut (both hosts still reach the coordinator). The first stage loses the second one
/// and says so; the coordinator still reaches the second stage, so it knows the link is cut, not the node dead, and
/// re-plans without the far node. Both streams finish with the failure-free text.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class DeployLinkCutProcessTests(NamespacePoolFixture pool, ITestOutputHelper output) : IClassFixture<NamespacePoolFixture>
{
    private const int Tokens = 200;
    private static readonly string[] Prompts = ["Once upon a time", "The little dog"];

    [NetworkNamespaceFact]
    public async Task LinkBetweenTheFirstTwoStagesCutMidStream_IsDetectedAndRoutedAround_AndStreamsKeepTheReferenceText()
    {
        var timer = Stopwatch.StartNew();
        // arrange: references, and a deployment over three of the four hosts
        var model = TestPaths.Model("tiny-a-q8_0.gguf");
        var expected = await CompletionStreams.ReferencesAsync(model, Prompts, Tokens);
        var before = await pool.DeployThreeStagesAsync(model, "tiny-l", "90s");
        using var api = pool.Client();
        output.WriteLine("before: " + string.Join(", ", before.Stages.Select(s => $"{s.NodeName} [{s.FirstLayer}, {s.LastLayer}) at {s.Endpoint}")));
        string near = before.Stages[0].NodeName, far = before.Stages[1].NodeName;
        Assert.All(before.Stages, s => Assert.StartsWith("10.215.", s.Endpoint));

        // act: two greedy streams; cut the link between the first two stages' hosts after the first stream's 20th piece (the driver has measured its steps by then)
        using var http = pool.OpenAi();
        var cutAt = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var streams = Enumerable.Range(0, Prompts.Length).Select(i => CompletionStreams.StreamAsync(http, "tiny-l", Prompts[i], Tokens, pieces =>
        {
            if (i == 0 && pieces == 20 && !cutAt.Task.IsCompleted)
            {
                pool.Hosts!.Cut(near, far);
                cutAt.TrySetResult(Stopwatch.GetTimestamp());
            }
        })).ToList();
        var results = await Task.WhenAll(streams).WaitAsync(TimeSpan.FromSeconds(150));

        // assert: the cut happened mid-stream, both streams finished with the reference text
        Assert.True(cutAt.Task.IsCompleted, "the first stream ended before the cut");
        var cut = await cutAt.Task;
        var gap = results.Max(r => r.LongestGapAfter(cut));
        output.WriteLine($"link {near} - {far} cut; longest pause a client saw: {gap.TotalSeconds:F2} s");
        for (var i = 0; i < Prompts.Length; i++)
        {
            Assert.True(results[i].Error is null, $"stream {i}: {results[i].Error}\n{pool.Logs}");
            Assert.Equal(expected[i], results[i].Text);
        }

        // the driver named the silent link from the stages' own waits, at its step deadline, not after the transport's
        // keepalive gave up (about 17 s here before): 2.9 s with the machine lightly loaded, 5-9 s loaded far past its cores
        Assert.Contains("carries nothing", pool.Harness.Coordinator!.Output);
        Assert.True(gap < TimeSpan.FromSeconds(14), $"the clients waited {gap.TotalSeconds:F1} s");

        // the events tell a cut link (both nodes stay up), and the pipeline no longer crosses it
        var events = await pool.WaitForEventsAsync(TimeSpan.FromSeconds(30), "is cut", "sessions resumed after");
        output.WriteLine(events);
        Assert.Contains($"the link from node {near} to node {far} is cut", events);
        Assert.Contains($"from node {far} to node", events);
        Assert.DoesNotContain("lost with node", events);
        var nodes = await pool.Harness.NodesAsync();
        Assert.All(nodes, n => Assert.True(n.State == "ready" && n.Connected, $"{n.Name} is {n.State}"));
        var after = await api.GetAsync("tiny-l", CancellationToken.None);
        output.WriteLine("after: " + string.Join(", ", after.Stages.Select(s => $"{s.NodeName} [{s.FirstLayer}, {s.LastLayer}) {s.State}")));
        Assert.DoesNotContain(after.Stages, s => s.NodeName == far);
        Assert.All(after.Stages, s => Assert.Equal(StageStates.Ready, s.State));
        Assert.Equal(0, after.Stages[0].FirstLayer);
        Assert.Equal(before.Stages[^1].LastLayer, after.Stages[^1].LastLayer);

        // a new request is served across the links that work
        var again = await CompletionStreams.StreamAsync(http, "tiny-l", Prompts[0], Tokens, null);
        Assert.Equal(expected[0], again.Text);
        output.WriteLine($"whole test {timer.Elapsed.TotalSeconds:F1} s");
        Assert.True(timer.Elapsed < TimeSpan.FromSeconds(300), $"took {timer.Elapsed}"); // a bound against hangs, not a speed target
    }
}
