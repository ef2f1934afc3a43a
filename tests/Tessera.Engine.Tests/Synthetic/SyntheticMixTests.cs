using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Engine.Synthetic;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Synthetic;

/// <summary>Synthetic files in the new low-bit types and in llama.cpp's Q3_K_M mixture: written, loaded, run.</summary>
public sealed class SyntheticMixTests : IDisposable
{
    // Sixteen blocks, so that llama.cpp's "first sixteenth of the blocks" rule for ffn_down picks one.
    private static readonly ModelShape Shape = new("mix-test", 256, 16, 8, 4, 512, 512, 256);

    private readonly string _path = Path.Combine(Path.GetTempPath(), $"tessera-synth-mix-{Guid.NewGuid():N}.gguf");

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void Q3_K_M_ChoosesTypesPerTensorAsLlamaCppDoes()
    {
        SyntheticModelWriter.Write(_path, Shape, QuantizationMix.Parse("q3_k_m", SyntheticModelWriter.SupportedTypes));
        using var gguf = GgufFile.Open(_path);
        GgmlType TypeOf(string name) => gguf.GetTensor(name).Type;

        Assert.Equal(GgmlType.Q6_K, TypeOf("output.weight"));
        Assert.Equal(GgmlType.Q3_K, TypeOf("token_embd.weight"));
        Assert.Equal(GgmlType.F32, TypeOf("blk.0.attn_norm.weight"));
        // attn_v: Q5_K in the first two blocks, then Q4_K; ffn_down: Q5_K in the first sixteenth of the blocks, then Q4_K
        Assert.Equal([GgmlType.Q5_K, GgmlType.Q5_K, GgmlType.Q4_K, GgmlType.Q4_K], Enumerable.Range(0, 4).Select(l => TypeOf($"blk.{l}.attn_v.weight")));
        Assert.Equal([GgmlType.Q5_K, GgmlType.Q4_K, GgmlType.Q4_K], Enumerable.Range(0, 3).Select(l => TypeOf($"blk.{l}.ffn_down.weight")));
        for (var l = 0; l < Shape.BlockCount; l++)
        {
            Assert.Equal(GgmlType.Q4_K, TypeOf($"blk.{l}.attn_output.weight"));
            foreach (var name in new[] { "attn_q", "attn_k", "ffn_gate", "ffn_up" })
                Assert.Equal(GgmlType.Q3_K, TypeOf($"blk.{l}.{name}.weight"));
        }
    }

    [Fact]
    public void Q3_K_M_FallsBackAsLlamaCppDoes_ForRowsThatAreNotWholeSuperBlocks()
    {
        var mix = QuantizationMix.Q3_K_M;

        Assert.Equal(GgmlType.Q4_0, mix.TypeFor(TensorRole.AttentionQ, 0, 96, Shape));
        Assert.Equal(GgmlType.Q5_0, mix.TypeFor(TensorRole.AttentionOutput, 0, 96, Shape));
        Assert.Equal(GgmlType.Q5_1, mix.TypeFor(TensorRole.AttentionV, 0, 96, Shape));
        Assert.Equal(GgmlType.Q8_0, mix.TypeFor(TensorRole.Output, 0, 96, Shape));
    }

    [Theory]
    [InlineData("q3_k_m")]
    [InlineData("q2_k")]
    [InlineData("q3_k")]
    [InlineData("iq4_xs")]
    public void AFileInTheType_LoadsAndGenerates_DecodeGivingThePrefillsLogits(string type)
    {
        SyntheticModelWriter.Write(_path, Shape, QuantizationMix.Parse(type, SyntheticModelWriter.SupportedTypes));
        using var gguf = GgufFile.Open(_path);
        var config = ModelConfig.FromGguf(gguf);
        using var backend = new CpuBackend(2);
        using var stage = new TransformerStage(gguf, LayerRange.All(config.BlockCount), backend, 64);
        var vocab = config.VocabSize;

        // Greedy generation, one token per step.
        using var cache = stage.CreateCache();
        var tokens = new List<int> { 1, 300, 42 };
        var logits = new List<float[]>();
        var step = tokens.ToArray();
        for (var i = 0; i < 6; i++)
        {
            BatchSequence[] one = [new BatchSequence(cache, step.Length)];
            var output = new float[stage.OutputLength(one)];
            stage.Forward(one, step, [], output);
            Assert.All(output, v => Assert.True(float.IsFinite(v)));
            logits.Add(output);
            var next = Array.IndexOf(output, output.Max());
            tokens.Add(next);
            step = [next];
        }

        // The whole sequence as one prompt: the same logits at every generated position, bit for bit.
        using var whole = stage.CreateCache();
        BatchSequence[] all = [new BatchSequence(whole, tokens.Count - 1)];
        var prefill = new float[stage.OutputLength(all, LogitsMode.All)];
        stage.Forward(all, tokens.ToArray().AsSpan(0, tokens.Count - 1), [], prefill, LogitsMode.All);
        for (var i = 0; i < logits.Count; i++)
            Assert.Equal(logits[i], prefill.AsSpan((2 + i) * vocab, vocab).ToArray());
    }
}
