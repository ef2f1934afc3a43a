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
        Assert.NotEqual(mapped.Weights.Layers[0].Gate.Data, copied.Weights.Layers[0].Gate.Data);

        int[] prompt = [1, 15043, 29892, 590, 1024, 338];
        var a = new float[config.VocabSize];
        var b = new float[config.VocabSize];
        mapped.Forward([new BatchSequence(mapped.CreateCache(), prompt.Length)], prompt, default, a);
        copied.Forward([new BatchSequence(copied.CreateCache(), prompt.Length)], prompt, default, b);

        Assert.Equal(a, b);
        Assert.Contains(a, v => v != 0);
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
