using Tessera.Engine.Gguf;
using Tessera.Planner;
using Tessera.Pool.State;

namespace Tessera.Deploy.Tests;

/// <summary>
/// Hop times learned from the stages' own waits (<see cref="ObservedHops"/>): a link's round trip is what the stage
/// before it waited, less the next stage's pass and its own wait; the planner then predicts with that in place of the
/// link probe's RTT.
/// </summary>
public sealed class ObservedHopsTests
{
    private static readonly StageSpeedOptions Options = StageSpeedOptions.Default with { MinPassesPerSample = 10, MinSamples = 2, Window = 3 };

    /// <summary>Counters of a three-stage pipeline after <paramref name="steps"/> decoding steps: passes of 4, 5, 6 ms; links a-b and b-c of the given round trips.</summary>
    private static List<ObservedHops.StageRead> Pipeline(long steps, double abMs = 1.5, double bcMs = 0.5, string suffix = "")
    {
        double p0 = 0.004, p1 = 0.005, p2 = 0.006;
        var w1 = p2 + bcMs / 1000;
        var w0 = p1 + w1 + abMs / 1000;
        return
        [
            new("s0" + suffix, "a", new StageCounters(steps, steps * p0, steps, steps * w0)),
            new("s1" + suffix, "b", new StageCounters(steps, steps * p1, steps, steps * w1)),
            new("s2" + suffix, "c", new StageCounters(steps, steps * p2)),
        ];
    }

    private static double NoTransfer(string a, string b) => 0;

    [Fact]
    public void ALinksRoundTrip_IsTheWaitBeforeItLessTheNextStagesPassAndWait()
    {
        var hops = new ObservedHops(Options);
        Assert.Empty(hops.Observe(Pipeline(100), TimeSpan.Zero, NoTransfer)); // the first reading is the baseline

        var sampled = hops.Observe(Pipeline(200), TimeSpan.FromSeconds(2), NoTransfer);

        Assert.Equal(2, sampled.Count);
        Assert.Equal(("a", "b"), (sampled[0].NodeA, sampled[0].NodeB));
        Assert.Equal(1.5, sampled[0].LatencyMs, 6);
        Assert.Equal(0.5, sampled[1].LatencyMs, 6);
        Assert.Empty(hops.Latencies(TimeSpan.FromSeconds(2))); // one sample: not used yet

        hops.Observe(Pipeline(300), TimeSpan.FromSeconds(4), NoTransfer);
        var latencies = hops.Latencies(TimeSpan.FromSeconds(4));
        Assert.Equal(1.5, latencies[ObservedHops.Key("b", "a")], 6);
        Assert.Equal(0.5, latencies[("b", "c")], 6);
    }

    [Fact]
    public void TheTransferAtTheMeasuredBandwidth_IsNotPartOfTheLatency()
    {
        var hops = new ObservedHops(Options);
        hops.Observe(Pipeline(100, abMs: 5), TimeSpan.Zero, NoTransfer);

        var sampled = hops.Observe(Pipeline(200, abMs: 5), TimeSpan.FromSeconds(2), (a, b) => (a, b) == ("a", "b") ? 0.004 : 0);

        Assert.Equal(1, sampled[0].LatencyMs, 6);
        Assert.Equal(0.5, sampled[1].LatencyMs, 6);
    }

    [Fact]
    public void TooFewSteps_AddUpToTheNextReading_AndANewStageStartsAfresh()
    {
        var hops = new ObservedHops(Options);
        hops.Observe(Pipeline(100), TimeSpan.Zero, NoTransfer);

        // 5 steps are too few (10 make a sample): nothing, and they count towards the next reading
        Assert.Empty(hops.Observe(Pipeline(105), TimeSpan.FromSeconds(1), NoTransfer));
        Assert.Equal(2, hops.Observe(Pipeline(110), TimeSpan.FromSeconds(2), NoTransfer).Count);

        // a stage restarted (a new key, counters from zero): a new baseline, no sample from mixed intervals
        Assert.Empty(hops.Observe(Pipeline(20, suffix: "-new"), TimeSpan.FromSeconds(3), NoTransfer));
        Assert.Equal(2, hops.Observe(Pipeline(40, suffix: "-new"), TimeSpan.FromSeconds(4), NoTransfer).Count);
    }

    [Fact]
    public void OnLoopback_WhereHopsAreSeenFarAboveTheProbesEcho_ALinkNotObservedCostsWhatTheSeenOnesDo()
    {
        // probes of 0.1 and 0.3 ms (noise), hops seen at 5 ms: the unobserved link is taken at 5.2 ms, not 15 (a ratio
        // of 50 would make 0.2 ms of probe noise 10 ms, and keep every plan on the one link already seen)
        LinkInfo[] links = [new("a", "b", 0.1, 0, 1e9), new("b", "c", 0.3, 0, 1e9)];
        var observed = new Dictionary<(string, string), double> { [("a", "b")] = 5 };

        var result = PoolCluster.WithObservedHops(links, observed);

        Assert.Equal(5, result[0].RttMs, 9);
        Assert.Equal(5.2, result[1].RttMs, 9);
    }

    [Fact]
    public void ObservedLatency_StandsForTheProbesRtt_LessTheJitterThePlannerAddsBack_AndShiftsTheLinksNotObserved()
    {
        // a-b seen 8 ms below its probe's RTT (6 ms less 4 of jitter against 10), c-e 1 ms below (1 against 2); the
        // upper median of the two differences (-1 ms) shifts b-c, which no pipeline crossed; an unreachable link stays so
        LinkInfo[] links =
        [
            new("a", "b", 10, 4, 1e8), new("b", "c", 3, 0.5, 1e9), new("c", "e", 2, 0, 1e9),
            new("a", "z", LinkMonitor.UnreachableRttMs, 0, 0),
        ];
        var observed = new Dictionary<(string, string), double> { [("a", "b")] = 6, [("c", "e")] = 1, [("c", "d")] = 0.7 };

        var result = PoolCluster.WithObservedHops(links, observed);

        Assert.Equal(new LinkInfo("a", "b", 2, 4, 1e8), result[0]);
        Assert.Equal(new LinkInfo("b", "c", 2, 0.5, 1e9), result[1]);
        Assert.Equal(new LinkInfo("c", "e", 1, 0, 1e9), result[2]);
        Assert.Equal(links[3], result[3]);
        Assert.Equal(new LinkInfo("c", "d", 0.7, 0, 0), result[4]);
        Assert.Same(links, PoolCluster.WithObservedHops(links, null));
    }

    [Fact]
    public async Task TheDeploymentsPrediction_AddsUpToTheStepTimeItsStagesShow()
    {
        // arrange: three equal nodes (10 MB/s), every link measured at 20 ms by the probe; deployed over three stages
        var pool = DeployHarness.Start(DeploymentControllerOptions.Default with
        {
            ImproveInterval = TimeSpan.FromSeconds(10),
            Speeds = StageSpeedOptions.Default with { ObserveInterval = TimeSpan.FromSeconds(1) },
        });
        await using var _ = pool;
        foreach (var name in new[] { "a", "b", "c" })
            pool.Agents.Join(name, speedGBps: 0.01);
        foreach (var (x, y) in new[] { ("a", "b"), ("a", "c"), ("b", "c") })
            pool.Events.UpsertLink(new LinkRecord(pool.Agents.Node(x).Id, pool.Agents.Node(y).Id, 20, 0.1, 1e9, pool.Clock.GetUtcNow()) { Samples = 20 });
        var (view, _) = await pool.DeployAsync(stages: 3);
        var before = view.PredictedTokensPerSecond;

        // the stages decode at the nodes' speed, and a token's round trip on each link takes 1 ms, not 20
        const double Hop = 0.001;
        var stored = pool.Store.List().Single();
        using var file = GgufFile.Open(DeployHarness.Model);
        var profile = ModelProfile.FromGguf(file);
        var pass = view.Stages.ToDictionary(s => s.Endpoint!, s => PoolPlanner.StageReadBytes(PlanRequests.For(stored, profile), new LayerSpan(s.FirstLayer, s.LastLayer)) / 0.01e9);
        var endpoints = view.Stages.Select(s => s.Endpoint!).ToList();
        double Wait(int k) => k == endpoints.Count - 1 ? 0 : pass[endpoints[k + 1]] + Hop + Wait(k + 1);
        pool.Network.SecondsPerPass = e => pass.GetValueOrDefault(e);
        pool.Network.WaitSecondsPerStep = e => endpoints.IndexOf(e) is var k && k < endpoints.Count - 1 ? Wait(k) : null;

        // act: half a minute of readings and improvement checks (each re-predicts the kept plan)
        await pool.PassAsync(TimeSpan.FromSeconds(30));

        // assert: the prediction is the stages' step time: their passes and 1 ms a link, not the probe's 20 ms
        var expected = 1 / (pass.Values.Sum() + 2 * Hop);
        var after = pool.Controller.Find("m")!.PredictedTokensPerSecond;
        Assert.True(Math.Abs(after - expected) < 0.02 * expected, $"predicted {after:F2} tokens/s, the stages show {expected:F2}; before {before:F2}");
        Assert.True(before < 0.8 * expected, $"before {before:F2} tokens/s with the probe's 20 ms links");
    }
}
