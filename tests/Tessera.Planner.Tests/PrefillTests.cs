using System.Text.Json;
using static Tessera.Planner.Tests.Fixtures;

namespace Tessera.Planner.Tests;

/// <summary>Prefill and time to first token, worked out by hand for small models.</summary>
public sealed class PrefillTests
{
    // 10 blocks of 100 MB, 200 MFLOP a token each (Uniform: 2 FLOPs a byte), hidden size 2048; 1 GB of weights
    private static ModelProfile Small() => Model(layers: 10, layerMb: 100, kvWidth: 0);

    [Fact]
    public void Prefill_LongPrompt_IsComputeBound_AtTheCpuFlopsDerivedFromBandwidth()
    {
        // a CPU of 100 GB/s without measured FLOP/s: 4 x 100e9 = 400 GFLOP/s
        var plan = PlanOrFail(Request(Small()), Cluster(Device("a", 4, 100)));
        var pipeline = plan.Pipelines[0];

        // 1,000 tokens: 1000 x 2 GFLOP + attention 2 x 2048 x 10 blocks x 1000^2 = 2.04096e12 FLOPs at 4e11
        Assert.Equal(2.04096e12 / 4e11, pipeline.PrefillSeconds(1000), 9);
        Assert.Equal(pipeline.PrefillSeconds(1000), pipeline.TimeToFirstTokenSeconds(1000), 12); // one stage: no way back
        var prefill = pipeline.Stages[0].Prefill!;
        Assert.False(prefill.FlopsMeasured);
        Assert.Equal(4e11, prefill.FlopsPerSecond);
    }

    [Fact]
    public void Prefill_ShortPrompt_IsBoundByReadingTheWeightsOnce()
    {
        var pipeline = PlanOrFail(Request(Small()), Cluster(Device("a", 4, 100))).Pipelines[0];

        // 1 token: 2 GFLOP at 400 GFLOP/s = 5 ms, but reading 1 GB at 100 GB/s takes 10 ms
        Assert.Equal(0.010, pipeline.PrefillSeconds(1), 9);
    }

    [Fact]
    public void Prefill_UsesMeasuredFlops_AndDerivesAGpusFromItsKind()
    {
        var measured = new DeviceInfo("a", "n", "n", DeviceKind.Cpu, 4 * GB, 100, FlopsPerSecond: 1e12);
        var gpu = Device("g", 4, 100, kind: DeviceKind.Gpu);

        var onMeasured = PlanOrFail(Request(Small()), Cluster(measured)).Pipelines[0];
        var onGpu = PlanOrFail(Request(Small()), Cluster(gpu)).Pipelines[0];

        Assert.True(onMeasured.Stages[0].Prefill!.FlopsMeasured);
        Assert.Equal(2.04096e12 / 1e12, onMeasured.PrefillSeconds(1000), 9);
        Assert.Equal(20 * 100e9, onGpu.Stages[0].Prefill!.FlopsPerSecond);
    }

    [Fact]
    public void Prefill_TwoStages_TheHopCarriesEveryPromptToken_AndTheFirstTokenComesBack()
    {
        // two devices of 0.6 GB: 5 blocks each; a 2 ms link of 100 MB/s without jitter
        var cluster = Cluster(Device("a", 0.6, 100), Device("b", 0.6, 100)) with
        {
            Links = [new LinkInfo("node-a", "node-b", 2, 0, 1e8)],
        };
        var plan = PlanOrFail(Request(Small()) with { PromptTokens = 1000 }, cluster);
        var p = plan.Pipelines[0];
        Assert.Equal(2, p.Stages.Count);

        // each stage: half the FLOPs of the one-stage case; the hop: 1 ms + 1000 x 4096 bytes at 1e8
        var stage = 2.04096e12 / 2 / 4e11;
        var hop = 0.001 + 1000 * 4096 / 1e8;
        Assert.Equal(2 * stage + hop, p.PrefillSeconds(1000), 9);
        Assert.Equal(2 * stage + hop + p.Stages[1].HopSeconds, p.TimeToFirstTokenSeconds(1000), 9);
        Assert.Equal(1000, p.Prompt!.PromptTokens);
        Assert.Equal(p.TimeToFirstTokenSeconds(1000), p.Prompt.TimeToFirstTokenSeconds, 12);
    }

    [Fact]
    public void Prefill_OfAStageBuiltByHand_SaysItCarriesNoCosts()
    {
        var stage = new PlanStage(0, 0, "a", "n", "n", new LayerSpan(0, 10), 1, 0, 0, 1, 0.01, 0);

        Assert.Throws<InvalidOperationException>(() => new PipelinePlan(0, [stage]).PrefillSeconds(10));
    }

    [Fact]
    public void Plan_RoundTripsThroughJson_WithItsPredictionsAndAlternatives()
    {
        var cluster = Cluster(Device("fast", 1.0, 400), Device("slow", 4, 100));
        var plan = PlanOrFail(Request(Model(), context: 16) with { Explain = true }, cluster);
        var options = new JsonSerializerOptions { WriteIndented = false };

        var json = JsonSerializer.Serialize(plan, options);
        var back = JsonSerializer.Deserialize<Plan>(json, options)!;

        Assert.Equal(plan.Pipelines[0].PrefillSeconds(777), back.Pipelines[0].PrefillSeconds(777), 12);
        Assert.Equal(plan.Pipelines[0].TokenLatencyP99Seconds, back.Pipelines[0].TokenLatencyP99Seconds);
        Assert.Equal(plan.Alternatives, back.Alternatives);
        Assert.NotEmpty(back.Alternatives);
    }
}
