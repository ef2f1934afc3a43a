using Tessera.Planner;

namespace Tessera.Planner.Simulation.Tests;

public sealed class BaselineTests
{
    [Fact]
    public void TwoIdenticalDevices_EvenSplitMemoryRingAndPlannerPredictTheSame()
    {
        // arrange: 32 layers of 1 GB need both 24 GB GPUs
        var pool = Pools.Lab([Pools.Gpu(24, 900)], [Pools.Gpu(24, 900)]);
        var request = Pools.Request(32, 1);

        // act
        var tessera = new TesseraPlannerSystem().Start(Pools.Context(pool, request)).Prediction;
        var even = new LlamaCppRpcBaseline().Start(Pools.Context(pool, request)).Prediction;
        var ring = new ExoRingBaseline().Start(Pools.Context(pool, request)).Prediction;

        // assert
        Assert.NotNull(tessera);
        Assert.NotNull(even);
        Assert.NotNull(ring);
        Assert.Equal(2, tessera.Stages);
        Assert.Equal(tessera.SingleStreamTokensPerSecond, even.SingleStreamTokensPerSecond, 9);
        Assert.Equal(tessera.SingleStreamTokensPerSecond, ring.SingleStreamTokensPerSecond, 9);
        Assert.Equal(tessera.SaturatedTokensPerSecond, even.SaturatedTokensPerSecond, 9);
    }

    [Fact]
    public void FastGpuAndSlowCpu_PlannerBeatsTheEvenSplitByThePredictedRatio()
    {
        // arrange: one machine, a 24 GB GPU at 1000 GB/s and a 64 GB CPU at 50 GB/s; 40 layers of 1 GB need both
        var pool = Pools.Lab([Pools.Cpu(64, 50), Pools.Gpu(24, 1000)]);
        var request = Pools.Request(40, 1);

        // act
        var tessera = new TesseraPlannerSystem().Start(Pools.Context(pool, request)).Prediction!;
        var even = new LlamaCppRpcBaseline().Start(Pools.Context(pool, request)).Prediction!;

        // assert: the even split puts 20 layers on the CPU, the planner only what the GPU cannot hold (24 GB less 10 %
        // headroom and 64 MiB scratch: 21 layers), so the CPU's share decides the ratio, 20 / 19, plus the GPU's part.
        double Time(int gpuLayers) =>
            PoolPlanner.StageReadBytes(request, new LayerSpan(0, gpuLayers)) / 1000e9 +
            PoolPlanner.StageReadBytes(request, new LayerSpan(gpuLayers, 40)) / 50e9;
        var hops = 1 / tessera.SingleStreamTokensPerSecond - Time(21);
        Assert.Equal(1 / (Time(20) + hops), even.SingleStreamTokensPerSecond, 6);
        Assert.Equal(Time(20) / Time(21), tessera.SingleStreamTokensPerSecond / even.SingleStreamTokensPerSecond, 3);
        Assert.True(tessera.SingleStreamTokensPerSecond > even.SingleStreamTokensPerSecond * 1.04);
    }

    [Fact]
    public void PoolTooSmall_EverySystemSaysItDoesNotFit()
    {
        var pool = Pools.Lab([Pools.Gpu(12, 360)], [Pools.Cpu(16, 50)]);
        var request = Pools.Request(80, 1);

        foreach (var kind in SystemKinds.All)
        {
            var outcome = DaySimulator.Run(DaySimulator.Create(kind), pool, request, [], 1);
            Assert.False(outcome.Fits, $"{kind} claims to fit 80 GB on 28 GB");
            Assert.False(string.IsNullOrEmpty(outcome.Failure));
            Assert.Equal(0, outcome.SaturatedTokensPerSecond);
        }
    }

    [Fact]
    public void PetalsSwarm_ServesAsFastAsItsLeastServedBlock()
    {
        // arrange: four identical GPUs that each hold half of the model: every block gets two servers
        var pool = Pools.Lab([Pools.Gpu(24, 900)], [Pools.Gpu(24, 900)], [Pools.Gpu(24, 900)], [Pools.Gpu(24, 900)]);
        var request = Pools.Request(32, 1.2);

        var petals = new PetalsSwarmBaseline().Start(Pools.Context(pool, request)).Prediction!;
        var tessera = new TesseraPlannerSystem().Start(Pools.Context(pool, request)).Prediction!;

        // assert: each server holds 17 of the 32 blocks (21.6 GB after headroom), so every block has two servers: twice
        // the pace of one server of 17 blocks, against the planner's pipeline of two stages of 16
        Assert.Equal(4, petals.NodesUsed);
        var expected = 2 * tessera.SaturatedTokensPerSecond * 16 / 17;
        Assert.Equal(expected, petals.SaturatedTokensPerSecond, 0.001 * expected);
    }
}
