using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Deploy;

/// <summary>
/// The coordinator on a LAN bridge, two agents on the LAN and one behind a home router (a namespace that masquerades
/// its connections out and drops every connection in): it joins, but nobody can dial it.
/// </summary>
public sealed class NatPoolFixture : NamespacePoolFixture
{
    public const string Natted = "agent-c";

    protected override IReadOnlyList<string> AgentNames => ["agent-a", "agent-b", Natted];

    protected override IReadOnlyList<string> BehindNat => [Natted];

    protected override string? SkipReason => NetworkNamespaceFactAttribute.NatSkipReason;
}

/// <summary>
/// A machine behind NAT hosts a stage: the coordinator finds it cannot dial the agent, says so in `tessera nodes`, and
/// reaches its stage through the relay (the agent dials back); a three-stage deployment over the two LAN hosts and the
/// NAT'd one serves the same text as one process.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class DeployNatProcessTests(NatPoolFixture pool, ITestOutputHelper output) : IClassFixture<NatPoolFixture>
{
    private const int Tokens = 60;
    private static readonly string[] Prompts = ["Once upon a time", "The little dog"];

    [NetworkNamespaceFact(BehindNat = true)]
    public async Task AStageBehindNat_IsReachedThroughTheRelay_AndServesTheReferenceText()
    {
        var hosts = pool.Hosts!;
        // The agent behind NAT reaches the coordinator, but its own address (its router's) takes no connections.
        var natted = (await pool.Harness.NodesAsync()).Single(n => n.Name == NatPoolFixture.Natted);
        Assert.Equal(hosts.IpOf(NatPoolFixture.Natted), natted.Address);

        // The coordinator measures each new agent at once: the NAT'd one is found unreachable and relayed.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        string nodes;
        do
        {
            await Task.Delay(500);
            nodes = (await pool.RunAsync("nodes")).Stdout;
        }
        while (!nodes.Contains("relayed", StringComparison.Ordinal) && DateTime.UtcNow < deadline);
        output.WriteLine(nodes);
        Assert.Contains("relayed", nodes);
        Assert.Single(nodes.Split('\n'), l => l.Contains("relayed", StringComparison.Ordinal));
        Assert.Contains(NatPoolFixture.Natted, nodes.Split('\n').Single(l => l.Contains("relayed", StringComparison.Ordinal)));

        // A deployment with a stage on every host, the NAT'd one included, serves the one-process text.
        var model = TestPaths.Model("tiny-a-q8_0.gguf");
        var expected = await CompletionStreams.ReferencesAsync(model, Prompts, Tokens);
        var view = await pool.DeployThreeStagesAsync(model, "tiny-nat", "90s");
        output.WriteLine(string.Join(", ", view.Stages.Select(s => $"{s.NodeName} [{s.FirstLayer}, {s.LastLayer}) at {s.Endpoint}")));
        var relayed = Assert.Single(view.Stages, s => s.NodeName == NatPoolFixture.Natted);
        Assert.StartsWith(hosts.CoordinatorIp + ":", relayed.Endpoint); // the relay's front, on the coordinator
        Assert.All(view.Stages.Where(s => s.NodeName != NatPoolFixture.Natted), s => Assert.StartsWith("10.215.", s.Endpoint));

        using var http = pool.OpenAi();
        var results = await Task.WhenAll(Prompts.Select(p => CompletionStreams.StreamAsync(http, "tiny-nat", p, Tokens, null))).WaitAsync(TimeSpan.FromSeconds(90));
        for (var i = 0; i < Prompts.Length; i++)
        {
            Assert.True(results[i].Error is null, $"stream {i}: {results[i].Error}\n{pool.Logs}");
            Assert.Equal(expected[i], results[i].Text);
        }
    }
}
