using Tessera.Engine.Gguf;
using Tessera.Planner;

namespace Tessera.Deploy.Tests;

/// <summary>
/// A stage that becomes slow after deployment is noticed from its step times and the deployment moves layers away
/// from it; step times that only jitter around equal speeds move nothing. The controller reads substituted stage
/// counters (<see cref="FakeNetwork.SecondsPerPass"/>): a pass takes the bytes the planner counts for the stage's
/// layers over its node's speed, times the jitter the test draws.
/// </summary>
public sealed class SlowStageTests
{
    private static readonly DeploymentControllerOptions Options = DeploymentControllerOptions.Default with
    {
        ImproveInterval = TimeSpan.FromSeconds(10),
        Speeds = StageSpeedOptions.Default with { ObserveInterval = TimeSpan.FromSeconds(1) },
    };

    private const double Speed = 0.01;

    /// <summary>Each node's true speed (GB/s), which the test changes; stages decode at it.</summary>
    private sealed class Nodes(DeployHarness pool, int seed, double jitter)
    {
        private readonly Random _random = new(seed);
        private readonly ModelProfile _profile = Profile();

        public Dictionary<string, double> Speed { get; } = new(StringComparer.Ordinal);

        public double? SecondsPerPass(string endpoint)
        {
            var view = pool.Controller.Find("m");
            var stage = view?.Stages.FirstOrDefault(s => s.Endpoint == endpoint);
            var stored = pool.Store.List().FirstOrDefault();
            if (stage is null || stored is null)
                return null;
            var bytes = PoolPlanner.StageReadBytes(PlanRequests.For(stored, _profile), new LayerSpan(stage.FirstLayer, stage.LastLayer));
            lock (_random)
                return bytes / (Speed[stage.NodeName] * 1e9) * (1 + jitter * (2 * _random.NextDouble() - 1));
        }

        private static ModelProfile Profile()
        {
            using var file = GgufFile.Open(DeployHarness.Model);
            return ModelProfile.FromGguf(file);
        }
    }

    private static async Task<(DeployHarness Pool, Nodes Nodes)> DeployOnThreeEqualNodesAsync(int seed, double jitter, double probe = Speed)
    {
        var pool = DeployHarness.Start(Options);
        var nodes = new Nodes(pool, seed, jitter);
        foreach (var name in new[] { "a", "b", "c" })
        {
            // 10 MB/s: a layer of the test model then takes about 4 ms, more than a hop, as real layers do on real devices
            pool.Agents.Join(name, speedGBps: probe);
            nodes.Speed[name] = Speed;
        }
        await pool.DeployAsync(stages: 3);
        pool.Network.SecondsPerPass = nodes.SecondsPerPass;
        return (pool, nodes);
    }

    private static string Layout(DeploymentView view) => string.Join(", ", view.Stages.Select(s => $"{s.NodeName} [{s.FirstLayer}, {s.LastLayer})"));

    [Fact]
    public async Task StepTimesJitteringAroundEqualSpeeds_NeverMoveALayer()
    {
        // arrange: three equal nodes whose passes jitter by up to ±30 %, as on a busy machine
        var (pool, nodes) = await DeployOnThreeEqualNodesAsync(seed: 7, jitter: 0.3);
        await using var _ = pool;
        var before = Layout(pool.Controller.Find("m")!);

        // act: five minutes of readings, thirty improvement intervals
        await pool.PassAsync(TimeSpan.FromMinutes(5));

        // assert: the speeds were learned (within the jitter) and nothing moved
        Assert.True(pool.EventsOf("plan-improved").Count == 0, string.Join("\n", pool.EventsOf("plan-improved")));
        Assert.All(pool.Controller.Find("m")!.Stages, s => Assert.InRange(s.ObservedGBps ?? 0, Speed / 1.3, Speed / 0.7));
        Assert.Empty(pool.EventsOf("plan-improved"));
        Assert.Empty(pool.EventsOf("stage-speed"));
        Assert.Equal(before, Layout(pool.Controller.Find("m")!));
        Assert.Equal(0, pool.Pipeline("m").RecoveryStatistics.Moves); // no switch of the pipeline either
        Assert.Empty(pool.Agents.Stops("b"));
    }

    [Fact]
    public async Task StagesAllSlowerThanTheirProbesSaid_KeepThePlan_AndItsPredictionFollowsWhatWasSeen()
    {
        // arrange: probes that said three times what the nodes decode at, alike on every node
        var (pool, _) = await DeployOnThreeEqualNodesAsync(seed: 3, jitter: 0.05, probe: 3 * Speed);
        await using var _ = pool;
        var before = pool.Controller.Find("m")!;

        // act: the stages decode for a while
        await pool.UntilAsync(() => pool.EventsOf("plan-kept").Count == 1, "the check the speeds seen bring forward");

        // assert: each node was named, nothing moved (no node is faster than another), and the prediction came down
        Assert.Equal(3, pool.EventsOf("stage-speed").Count);
        Assert.Contains("no plan is predicted faster by enough to move", pool.EventsOf("plan-kept")[0]);
        Assert.Empty(pool.EventsOf("plan-improved"));
        var after = pool.Controller.Find("m")!;
        Assert.Equal(Layout(before), Layout(after));
        Assert.True(after.PredictedTokensPerSecond < 0.7 * before.PredictedTokensPerSecond,
            $"predicted {before.PredictedTokensPerSecond:F1} at deployment, {after.PredictedTokensPerSecond:F1} after");
        Assert.Equal(after.PredictedTokensPerSecond, pool.Store.List().Single().PredictedTokensPerSecond, 6); // kept across a restart
    }

    [Fact]
    public async Task ANodeBecomingThreeTimesSlower_IsNoticed_AndLayersMoveOffIt_WithoutAFailure()
    {
        // arrange: three equal nodes decoding with ±10 % jitter for a while
        var (pool, nodes) = await DeployOnThreeEqualNodesAsync(seed: 11, jitter: 0.1);
        await using var _ = pool;
        await pool.PassAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(pool.EventsOf("plan-improved"));
        var before = pool.Controller.Find("m")!;
        var slow = before.Stages[1];
        var pipeline = pool.Pipeline("m");

        // act: the middle stage's node becomes three times slower (a CPU quota, a busy neighbour)
        nodes.Speed[slow.NodeName] = Speed / 3;
        await pool.UntilAsync(() => pool.EventsOf("plan-improved").Count == 1, "the move off the slow node");

        // assert: the change was noticed in words, the move names it, the slow node holds fewer layers, nothing failed
        var noticed = Assert.Single(pool.EventsOf("stage-speed"));
        Assert.Contains($"stage 1 on node {slow.NodeName} is ", noticed);
        Assert.Contains("x slower than planned", noticed);
        var improved = pool.EventsOf("plan-improved")[0];
        Assert.Contains($"node {slow.NodeName} is ", improved);
        Assert.Contains("from its step times", improved);
        var after = pool.Controller.Find("m")!;
        var slowLayers = after.Stages.Where(s => s.NodeName == slow.NodeName).Sum(s => s.LastLayer - s.FirstLayer);
        Assert.True(slowLayers < slow.LastLayer - slow.FirstLayer, $"before: {Layout(before)}; after: {Layout(after)}");
        Assert.Equal(after.Stages.Select(s => s.Endpoint), pipeline.Endpoints);
        Assert.Empty(pipeline.Failures);
        Assert.True(after.PredictedTokensPerSecond > 0);

        // and, the node staying slow, the new plan stays put
        await pool.PassAsync(TimeSpan.FromSeconds(60));
        Assert.Single(pool.EventsOf("plan-improved"));
    }
}
