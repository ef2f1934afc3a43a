namespace Tessera.Planner.Simulation.Tests;

public sealed class FailureAccountingTests
{
    [Fact]
    public void PoolWithNoFailures_LosesNoTokens()
    {
        var report = SimulationRunner.Run(new SimulationSettings
        {
            NodeCounts = [20], Models = [ModelSize.B7], Catalog = PoolCatalog.Home, Hours = 6, ChurnScale = 0,
        });

        foreach (var o in report.Pools[0].Outcomes)
        {
            Assert.True(o.Fits, $"{o.System}: {o.Failure}");
            Assert.Equal(0, o.TokensLost);
            Assert.Equal(0, o.DownSeconds);
            Assert.Equal(o.SaturatedTokensPerSecond * 6 * 3600, o.TokensServed, 1e-6 * o.TokensServed);
        }
    }

    [Fact]
    public void LlamaCppRpc_LosesTheRestartTimeAndTheReloadPerFailure()
    {
        // arrange: three identical GPUs, the model needs two; the first one leaves after 1000 s and never returns
        var pool = Pools.Lab([Pools.Gpu(24, 900)], [Pools.Gpu(24, 900)], [Pools.Gpu(24, 900)]);
        var request = Pools.Request(32, 1);
        var system = new LlamaCppRpcBaseline();
        var start = new LlamaCppRpcBaseline().Start(Pools.Context(pool, request)).Prediction!;

        // act
        var outcome = DaySimulator.Run(system, pool, request, [new ChurnEvent(1000, 0, Up: false)], 2);

        // assert: down for the restart plus every stage's reload over 10 GbE, then as fast as before on the spare
        var reload = 16e9 / LinkCatalog.LoadBytesPerSecond(NodeClass.Lab);
        Assert.Equal(1, outcome.Disruptions);
        Assert.Equal(LlamaCppRpcBaseline.RestartSeconds + reload, outcome.DownSeconds, 6);
        Assert.Equal(start.SaturatedTokensPerSecond * outcome.DownSeconds, outcome.TokensLost, 1e-6 * outcome.TokensLost);
    }

    [Fact]
    public void Tessera_AfterTheSameFailure_IsDownOnlyForDetectionReplanAndTheMovedLayers()
    {
        var pool = Pools.Lab([Pools.Gpu(24, 900)], [Pools.Gpu(24, 900)], [Pools.Gpu(24, 900)]);
        var request = Pools.Request(32, 1);

        var outcome = DaySimulator.Run(new TesseraPlannerSystem(), pool, request, [new ChurnEvent(1000, 0, Up: false)], 2);

        // the spare takes the lost stage's 16 layers (16 GB) over 10 GbE
        var moved = 16e9 / LinkCatalog.LoadBytesPerSecond(NodeClass.Lab);
        Assert.Equal(1, outcome.Disruptions);
        Assert.Equal(TesseraPlannerSystem.DetectionSeconds + TesseraPlannerSystem.ReplanSeconds + moved, outcome.DownSeconds, 6);
    }

    [Fact]
    public void HomeMachines_LeaveMoreOftenThanCloudVms()
    {
        var home = PoolGenerator.Generate(PoolCatalog.Home, 200, 7);
        var cloud = PoolGenerator.Generate(PoolCatalog.Cloud, 200, 7);

        var homeDepartures = ChurnSchedule.Draw(home, 24, 7).Count(e => !e.Up);
        var cloudDepartures = ChurnSchedule.Draw(cloud, 24, 7).Count(e => !e.Up);

        Assert.True(homeDepartures > 20 * Math.Max(1, cloudDepartures), $"home {homeDepartures}, cloud {cloudDepartures}");
    }
}
