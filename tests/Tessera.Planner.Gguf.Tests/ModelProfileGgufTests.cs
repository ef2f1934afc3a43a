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
