using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Engine.Synthetic;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Synthetic;

/// <summary>A synthetic mixture-of-experts model: written in the layout llama.cpp reads, run, and counted by its chosen experts.</summary>
public sealed class SyntheticMoeTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"tessera-synth-moe-{Guid.NewGuid():N}.gguf");

    public void Dispose() => File.Delete(_path);

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_1)]
    public void TheMoeShape_IsAMixtralStyleModel_ThatRuns_AndReadsTwoOfItsFourExpertsPerToken(GgmlType type)
    {
        var shape = ModelShape.TinyMoe;
        SyntheticModelWriter.Write(_path, shape, type);
        using var gguf = GgufFile.Open(_path);
        var config = ModelConfig.FromGguf(gguf);
        Assert.Equal((4, 2, 768), (config.ExpertCount, config.ExpertUsedCount, config.ExpertFeedForwardLength));
        Assert.Equal([256L, 768, 4], gguf.GetTensor("blk.0.ffn_gate_exps.weight").Dimensions);
        using var backend = new CpuBackend(2);
        using var stage = new TransformerStage(gguf, LayerRange.All(config.BlockCount), backend, 64);

        // per token: attention, router and 2 of the 4 experts of each block, and the head
        var layer = stage.Weights.Layers[0];
        var experts = layer.Experts!;
        var expert = experts.Gate[0].ByteSize + experts.Up[0].ByteSize + experts.Down[0].ByteSize;
        Assert.Equal(layer.MatrixBytes - 2 * expert, layer.ActiveBytes(2));
        Assert.Equal(config.BlockCount * layer.ActiveBytes(2) + stage.Weights.Head!.Value.ByteSize, stage.Weights.BytesPerToken);

        // a forward pass gives finite logits, the same for one token alone as inside a batch
        using var cache = stage.CreateCache();
        BatchSequence[] batch = [new BatchSequence(cache, 3)];
        var all = new float[stage.OutputLength(batch, LogitsMode.All)];
        stage.Forward(batch, [1, 15043, 29892], [], all, LogitsMode.All);
        Assert.All(all, v => Assert.True(float.IsFinite(v)));
        using var alone = stage.CreateCache();
        BatchSequence[] one = [new BatchSequence(alone, 1)];
        var first = new float[stage.OutputLength(one)];
        stage.Forward(one, [1], [], first);
        Assert.Equal(all.AsSpan(0, config.VocabSize).ToArray(), first);
    }
}
