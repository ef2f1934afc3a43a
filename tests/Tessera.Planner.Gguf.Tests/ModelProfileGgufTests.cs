using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Planner;
using Tessera.Testing;

namespace Tessera.Planner.Gguf.Tests;

public sealed class ModelProfileGgufTests
{
    [Fact]
    public void FromGguf_TinyA_LayerBytesSumToTheFilesTensorBytes()
    {
        // arrange
        using var file = GgufFile.Open(TestPaths.Model("tiny-a-q4_0.gguf"));
        var config = ModelConfig.FromGguf(file);

        // act
        var profile = ModelProfile.FromGguf(file);

        // assert
        Assert.Equal(config.BlockCount, profile.LayerCount);
        Assert.Equal(file.Tensors.Sum(t => t.ByteSize), profile.TotalWeightBytes);
        for (var i = 0; i < profile.LayerCount; i++)
        {
            var prefix = $"blk.{i}.";
            Assert.Equal(file.Tensors.Where(t => t.Name.StartsWith(prefix, StringComparison.Ordinal)).Sum(t => t.ByteSize), profile.LayerWeightBytes[i]);
            Assert.True(profile.LayerFlopsPerToken[i] > 0);
        }
        Assert.Equal(file.GetTensor("token_embd.weight").ByteSize, profile.EmbeddingBytes);
        Assert.Equal(!file.TryGetTensor("output.weight", out _), profile.TiedEmbedding);
        Assert.Equal(2L * config.KvWidth * sizeof(float), profile.KvBytesPerTokenPerLayer);
        Assert.Equal(config.EmbeddingLength, profile.HiddenSize);
        Assert.Equal(config.EmbeddingLength * 2L, profile.ActivationBytesPerToken(2));
    }

    [Fact]
    public void FromGguf_AQ4_K_MFile_SplitsEachBlocksFlopsByTheTypesItsTensorsAreStoredIn()
    {
        using var file = GgufFile.Open(TestPaths.Model("tiny-a-q4_k_m.gguf"));

        var profile = ModelProfile.FromGguf(file);

        var types = profile.LayerFlopsByType!;
        var mixed = 0;
        for (var i = 0; i < profile.LayerCount; i++)
        {
            var expected = file.Tensors.Where(t => t.Name.StartsWith($"blk.{i}.", StringComparison.Ordinal))
                .GroupBy(t => t.Type.ToString())
                .ToDictionary(g => g.Key, g => g.Sum(t => 2.0 * t.ElementCount));
            Assert.Equal(expected, types[i].ToDictionary(t => t.Type, t => t.FlopsPerToken));
            Assert.Equal(profile.LayerFlopsPerToken[i], types[i].Sum(t => t.FlopsPerToken), 6);
            if (types[i].Count(t => t.Type is "Q4_K" or "Q5_K" or "Q6_K") > 1)
                mixed++;
        }
        Assert.True(mixed > 0, "a Q4_K_M file keeps some matrices in Q6_K (or Q5_K)");
    }

    [Fact]
    public void FromGguf_AQ4_K_MFile_PrefillsEachTensorAtItsTypesFactor()
    {
        using var file = GgufFile.Open(TestPaths.Model("tiny-a-q4_k_m.gguf"));
        var profile = ModelProfile.FromGguf(file);
        var options = PlannerOptions.Default with { StageScratchBytes = 0 };
        var cluster = new ClusterDescription { Devices = [new DeviceInfo("cpu0", "local", "local", DeviceKind.Cpu, 1_000_000_000, 20)] };

        var stage = PoolPlanner.Plan(new PlanRequest { Model = profile, ContextLength = 256 }, cluster, options).GetPlanOrThrow().Pipelines[0].Stages[0];

        // by hand: the blocks' FLOPs over the sum of each tensor's FLOPs over its type's factor, times 20 GB/s
        var blocks = file.Tensors.Where(t => t.Name.StartsWith("blk.", StringComparison.Ordinal)).ToList();
        var perByte = blocks.Sum(t => 2.0 * t.ElementCount / options.CpuFlopsPerByteOf(t.Type.ToString()));
        Assert.Equal(blocks.Sum(t => 2.0 * t.ElementCount) / perByte * 20e9, stage.Prefill!.FlopsPerSecond, stage.Prefill.FlopsPerSecond * 1e-12);
        Assert.Equal(4 * 20e9, stage.Prefill.AttentionFlopsPerSecond);
    }

    [Fact]
    public void FromGguf_TinyA_PlansOnOneDevice()
    {
        using var file = GgufFile.Open(TestPaths.Model("tiny-a-q4_0.gguf"));
        var profile = ModelProfile.FromGguf(file);
        var cluster = new ClusterDescription { Devices = [new DeviceInfo("cpu0", "local", "local", DeviceKind.Cpu, 1_000_000_000, 20)] };

        var result = PoolPlanner.Plan(new PlanRequest { Model = profile, ContextLength = 256 }, cluster);

        Assert.True(result.Succeeded, result.Failure?.Message);
        Assert.Equal(new LayerSpan(0, profile.LayerCount), Assert.Single(result.Plan!.Stages).Layers);
    }

    [Fact]
    public void FromGguf_AMixtureOfExperts_HoldsEveryExpert_ButReadsAndIsPlannedWithTheChosenOnes()
    {
        using var file = GgufFile.Open(TestPaths.Model("tiny-moe-q8_0.gguf"));
        var config = ModelConfig.FromGguf(file);
        using var backend = new Tessera.Engine.Backends.CpuBackend(1);
        using var stage = new TransformerStage(file, new LayerRange(0, config.BlockCount), backend, 64);

        var profile = ModelProfile.FromGguf(file);

        // memory: every expert; per token: attention, router and 2 of the 4 experts, as the engine counts them
        Assert.Equal(file.Tensors.Sum(t => t.ByteSize), profile.TotalWeightBytes);
        for (var i = 0; i < profile.LayerCount; i++)
        {
            var tensors = file.Tensors.Where(t => t.Name.StartsWith($"blk.{i}.", StringComparison.Ordinal)).ToList();
            var experts = tensors.Where(t => t.Name.Contains("_exps.", StringComparison.Ordinal)).Sum(t => t.ByteSize);
            Assert.Equal(tensors.Sum(t => t.ByteSize) - experts / 2, profile.LayerReadBytes![i]);
        }
        var norms = file.Tensors.Where(t => t.Name.StartsWith("blk.", StringComparison.Ordinal) && t.Name.EndsWith("norm.weight", StringComparison.Ordinal)).Sum(t => t.ByteSize);
        Assert.Equal(stage.Weights.BytesPerToken - stage.Weights.Head!.Value.ByteSize, profile.LayerReadBytes!.Sum() - norms);
        var request = new PlanRequest { Model = profile, ContextLength = 256 };
        Assert.Equal((double)(profile.LayerReadBytes!.Sum() + profile.HeadBytes),
            PoolPlanner.StageReadBytes(request, new LayerSpan(0, profile.LayerCount), PlannerOptions.Default with { PredictionContextFill = 0 }));
    }
}
