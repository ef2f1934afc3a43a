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

    // The same 10 blocks stored in one weight type: the same FLOPs a token (2 GFLOP), only the kernels differ.
    private static ModelProfile Small(string weightType) =>
        ModelProfile.Uniform("typed", 10, 100 * MB, hiddenSize: 2048, kvWidth: 0, vocabSize: 0, weightType: weightType);

    private static StagePrefill PrefillOn(ModelProfile model, DeviceInfo device, PlannerOptions? options = null) =>
        PlanOrFail(Request(model), Cluster(device), options).Pipelines[0].Stages[0].Prefill!;

    [Fact]
    public void Prefill_Q4_0_IsShorterThanQ8_0_OnTheSameCpu_ByTheTablesRatio()
    {
        var options = PlannerOptions.Default with { StageScratchBytes = 0 };
        var q4 = options.CpuFlopsPerByteOf("Q4_0");
        var q8 = options.CpuFlopsPerByteOf("Q8_0");
        var cpu = Device("a", 4, 100);

        var onQ4 = PlanOrFail(Request(Small("Q4_0")), Cluster(cpu), options).Pipelines[0];
        var onQ8 = PlanOrFail(Request(Small("Q8_0")), Cluster(cpu), options).Pipelines[0];

        Assert.Equal(4, q8);
        Assert.True(q4 > 2 * q8, $"Q4_0's factor {q4}"); // measured: Q4_0's prefill kernels are over twice as fast
        // blocks: 1000 x 2 GFLOP at the type's factor x 100 GB/s; attention (2 x 2048 x 10 x 1000^2) at 4 x 100 GB/s
        Assert.Equal(2e12 / (q4 * 1e11) + 4.096e10 / 4e11, onQ4.PrefillSeconds(1000), 9);
        Assert.Equal(2e12 / (q8 * 1e11) + 4.096e10 / 4e11, onQ8.PrefillSeconds(1000), 9);
        Assert.Equal(q4 / q8, onQ4.Stages[0].Prefill!.FlopsPerSecond / onQ8.Stages[0].Prefill!.FlopsPerSecond, 12);
        Assert.Equal(4e11, onQ4.Stages[0].Prefill!.AttentionFlopsPerSecond);
    }

    [Fact]
    public void Prefill_MeasuredFlops_WinOverTheTypeTable()
    {
        var measured = new DeviceInfo("a", "n", "n", DeviceKind.Cpu, 4 * GB, 100, FlopsPerSecond: 1e12);

        var prefill = PrefillOn(Small("Q4_0"), measured);

        Assert.True(prefill.FlopsMeasured);
        Assert.Equal(1e12, prefill.FlopsPerSecond);
        Assert.Equal(1e12, prefill.AttentionFlopsPerSecond);
        Assert.Equal(2.04096e12 / 1e12, prefill.ComputeSeconds(1000), 9);
    }

    [Fact]
    public void Prefill_UnknownOrMissingType_GetsTheDefaultFactor()
    {
        var cpu = Device("a", 4, 100);

        Assert.Equal(4e11, PrefillOn(Small("Q9_9"), cpu).FlopsPerSecond);
        Assert.Equal(4e11, PrefillOn(Small(), cpu).FlopsPerSecond);
        Assert.Equal(4e11, PrefillOn(Small("Q4_0"), cpu, NoScratch with { CpuFlopsPerByteByType = new Dictionary<string, double>() }).FlopsPerSecond);
    }

    [Fact]
    public void Prefill_OnAGpu_IgnoresTheCpuTypeTable()
    {
        var prefill = PrefillOn(Small("Q4_0"), Device("g", 4, 100, kind: DeviceKind.Gpu));

        Assert.Equal(20 * 100e9, prefill.FlopsPerSecond);
        Assert.Equal(20 * 100e9, prefill.AttentionFlopsPerSecond);
    }

    [Fact]
    public void Prefill_MixedTypes_AddEachTypesTime_WeightedByItsFlops()
    {
        // Two blocks like a Q4_K_M file's: block 0 holds 60 M parameters in Q4_K and 20 M in Q6_K, block 1 80 M in
        // Q4_K; both have F32 norms (1 M). Factors 8 (Q4_K), 5 (Q6_K), 2 (F32) on a 100 GB/s CPU.
        var shape = new ModelShape("mix", BlockCount: 2, EmbeddingLength: 2048, KvWidth: 0, VocabSize: 0);
        var model = ModelProfile.FromTensors(shape,
        [
            new TensorSize("blk.0.ffn_up.weight", 60_000_000, 34 * MB, "Q4_K"),
            new TensorSize("blk.0.ffn_down.weight", 20_000_000, 16 * MB, "Q6_K"),
            new TensorSize("blk.0.attn_norm.weight", 1_000_000, 4 * MB, "F32"),
            new TensorSize("blk.1.ffn_up.weight", 80_000_000, 45 * MB, "Q4_K"),
            new TensorSize("blk.1.attn_norm.weight", 1_000_000, 4 * MB, "F32"),
        ]);
        var options = NoScratch with { CpuFlopsPerByteByType = new Dictionary<string, double> { ["Q4_K"] = 8, ["Q6_K"] = 5, ["F32"] = 2 } };

        var prefill = PrefillOn(model, Device("a", 4, 100), options);

        // one token: 2 x (140 M / 8 + 20 M / 5 + 2 M / 2) FLOP-seconds per byte/s = 45 M; FLOPs 2 x 162 M = 324 M
        var perByte = 2 * (140e6 / 8 + 20e6 / 5 + 2e6 / 2);
        Assert.Equal(7.2e11, prefill.FlopsPerSecond, 7.2e11 * 1e-12); // 324 M / 45 M = 7.2 per byte: not the 8 of Q4_K, the most bytes
        Assert.Equal(1000 * perByte / 100e9 + 2 * 2048 * 2 * 1000.0 * 1000 / 4e11, prefill.ComputeSeconds(1000), 12);
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
