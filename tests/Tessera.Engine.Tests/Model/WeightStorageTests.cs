using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Engine.Tensors;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Model;

public class WeightStorageTests
{
    /// <summary>Copying the matrices onto huge pages changes where they are read from, never a single output bit.</summary>
    [Theory]
    [InlineData("tiny-a-q4_0.gguf")]
    [InlineData("tiny-a-q4_k_m.gguf")]
    public void CopiedWeights_GiveTheSameLogitsAsTheMemoryMap_BitForBit(string file)
    {
        using var gguf = GgufFile.Open(TestPaths.Model(file));
        using var backend = new CpuBackend(2);
        var config = ModelConfig.FromGguf(gguf);
        using var mapped = new TransformerStage(gguf, LayerRange.All(config.BlockCount), backend, 64, WeightStorage.Map);
        using var copied = new TransformerStage(gguf, LayerRange.All(config.BlockCount), backend, 64, WeightStorage.Copy);
        Assert.Equal(WeightStorage.Map, mapped.Weights.Storage);
        Assert.Equal(WeightStorage.Copy, copied.Weights.Storage);
        Assert.NotEqual(mapped.Weights.Layers[0].Gate!.Value.Data, copied.Weights.Layers[0].Gate!.Value.Data);

        int[] prompt = [1, 15043, 29892, 590, 1024, 338];
        var a = new float[config.VocabSize];
        var b = new float[config.VocabSize];
        mapped.Forward([new BatchSequence(mapped.CreateCache(), prompt.Length)], prompt, default, a);
        copied.Forward([new BatchSequence(copied.CreateCache(), prompt.Length)], prompt, default, b);

        Assert.Equal(a, b);
        Assert.Contains(a, v => v != 0);
    }

    /// <summary>
    /// Sessions decoding together (one pass over eight sessions, one new position each: the batched kernels) give each
    /// session the logits it gets alone, bit for bit.
    /// </summary>
    [Theory]
    [InlineData("tiny-a-q4_0.gguf")]
    [InlineData("tiny-a-q4_k_m.gguf")]
    [InlineData("tiny-a-q8_0.gguf")]
    public void EightSessionsDecodingTogether_GetTheLogitsEachGetsAlone(string file)
    {
        const int sessions = 8;
        using var gguf = GgufFile.Open(TestPaths.Model(file));
        using var backend = new CpuBackend(2);
        var config = ModelConfig.FromGguf(gguf);
        using var stage = new TransformerStage(gguf, LayerRange.All(config.BlockCount), backend, 64, WeightStorage.Copy);
        var vocab = config.VocabSize;

        // Different prompts (lengths and tokens), then one decode step with a different token per session.
        var caches = new KvCache[sessions];
        var scratch = new float[vocab];
        for (var s = 0; s < sessions; s++)
        {
            caches[s] = stage.CreateCache();
            var prompt = Enumerable.Range(0, 3 + s).Select(i => 100 + 37 * i + 11 * s).ToArray();
            stage.Forward([new BatchSequence(caches[s], prompt.Length)], prompt, default, scratch);
        }
        var next = Enumerable.Range(0, sessions).Select(s => 500 + 13 * s).ToArray();

        var alone = new float[sessions * vocab];
        for (var s = 0; s < sessions; s++)
        {
            var length = caches[s].Length;
            stage.Forward([new BatchSequence(caches[s], 1)], [next[s]], default, alone.AsSpan(s * vocab, vocab));
            caches[s].Truncate(length); // the batched step below writes the same position again
        }
        var together = new float[sessions * vocab];
        stage.Forward(caches.Select(c => new BatchSequence(c, 1)).ToArray(), next, default, together);

        Assert.Equal(alone, together);
        Assert.Contains(together, v => v != 0);
    }

    /// <summary>
    /// A replay (prompt and generated tokens in one call, as a recovered session is rebuilt) gives the bits the session
    /// had from its prompt batch and its decoded tokens one by one: the prompt's positions take the prompt's order
    /// because the call carries the prompt length, not because of how many rows it holds. Gemma 2's head size of 64
    /// is where the two attention orders differ.
    /// </summary>
    [Theory]
    [InlineData("tiny-gemma2-q8_0.gguf")]
    [InlineData("tiny-a-q8_0.gguf")]
    public void AReplayInOneCall_GivesTheLogitsOfThePromptThenEachDecodedToken(string file)
    {
        using var gguf = GgufFile.Open(TestPaths.Model(file));
        using var backend = new CpuBackend(2);
        var config = ModelConfig.FromGguf(gguf);
        using var stage = new TransformerStage(gguf, LayerRange.All(config.BlockCount), backend, 64, WeightStorage.Copy);
        var vocab = config.VocabSize;
        var prompt = Enumerable.Range(0, 20).Select(i => 100 + 37 * i).ToArray();
        var generated = Enumerable.Range(0, 12).Select(i => 300 + 53 * i).ToArray();

        var stepwise = new float[(prompt.Length + generated.Length) * vocab];
        using (var cache = stage.CreateCache())
        {
            stage.Forward([new BatchSequence(cache, prompt.Length) { PromptLength = prompt.Length }], prompt, default, stepwise, LogitsMode.All);
            for (var i = 0; i < generated.Length; i++)
                stage.Forward([new BatchSequence(cache, 1) { PromptLength = prompt.Length }], [generated[i]], default,
                    stepwise.AsSpan((prompt.Length + i) * vocab, vocab), LogitsMode.All);
        }
        var replay = new float[stepwise.Length];
        using (var cache = stage.CreateCache())
            stage.Forward([new BatchSequence(cache, prompt.Length + generated.Length) { PromptLength = prompt.Length }],
                [.. prompt, .. generated], default, replay, LogitsMode.All);

        Assert.Equal(stepwise, replay);
        Assert.Contains(replay, v => v != 0);
    }

    [Fact]
    public unsafe void Arena_CopiesBytesExactly_AndRefusesMoreThanItReserved()
    {
        var bytes = new byte[34 * 3]; // 3 rows of one Q8_0 block
        for (var i = 0; i < bytes.Length; i++)
            bytes[i] = (byte)(i * 7);
        fixed (byte* p = bytes)
        {
            var source = new WeightMatrix((nint)p, GgmlType.Q8_0, 3, 32, "m");
            using var arena = new WeightArena(WeightArena.Footprint(source));
            var copy = arena.Copy(source);

            Assert.Equal(bytes, new ReadOnlySpan<byte>((void*)copy.Data, bytes.Length).ToArray());
            Assert.Equal(0, copy.Data % 64);
            Assert.Equal((source.Type, source.Rows, source.Cols, source.Name), (copy.Type, copy.Rows, copy.Cols, copy.Name));
            var big = new WeightMatrix((nint)p, GgmlType.Q8_0, 3, 32 * 100000, "big");
            Assert.Throws<InvalidOperationException>(() => arena.Copy(big));
        }
    }
}
