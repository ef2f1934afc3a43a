using Tessera.Engine.Gguf;
using Tessera.Engine.Tensors;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Gguf;

public sealed class GgufFileTests
{
    [Theory]
    [InlineData("tiny-a-f16.gguf")]
    [InlineData("tiny-a-q8_0.gguf")]
    [InlineData("tiny-a-q4_0.gguf")]
    [InlineData("tiny-a-q4_k_m.gguf")]
    public void Open_RealTinyModel_ReadsHyperParametersAndTensors(string file)
    {
        using var gguf = GgufFile.Open(TestPaths.Model(file));

        Assert.Equal("llama", gguf.Architecture);
        Assert.Equal(256, gguf.Metadata.GetInteger("llama.embedding_length"));
        Assert.Equal(4, gguf.Metadata.GetInteger("llama.block_count"));
        Assert.Equal(8, gguf.Metadata.GetInteger("llama.attention.head_count"));
        Assert.Equal(4, gguf.Metadata.GetInteger("llama.attention.head_count_kv"));
        Assert.Equal(32000, gguf.Metadata.TryGetStringArray("tokenizer.ggml.tokens")!.Length);
        var q = gguf.GetTensor("blk.0.attn_q.weight");
        Assert.Equal(new long[] { 256, 256 }, q.Dimensions);
        var embed = gguf.GetTensor("token_embd.weight");
        Assert.Equal(new long[] { 256, 32000 }, embed.Dimensions);
        foreach (var t in gguf.Tensors)
            Assert.True(t.FileOffset + t.ByteSize <= gguf.FileLength);
    }

    [Fact]
    public void WriteThenOpen_RoundTripsEveryValueTypeAndTensorBytes()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tessera-rt-{Guid.NewGuid():N}.gguf");
        try
        {
            var data = new byte[34 * 2];
            new Random(1).NextBytes(data);
            new GgufWriter()
                .Add("general.architecture", "llama")
                .Add("u8", (byte)7).Add("i8", (sbyte)-7).Add("u16", (ushort)65000).Add("i16", (short)-300)
                .Add("u32", 4000000000u).Add("i32", -5).Add("f32", 1.5f).Add("b", true).Add("u64", ulong.MaxValue)
                .Add("i64", long.MinValue).Add("f64", Math.PI)
                .AddArray("strings", GgufValueType.String, new[] { "a", "é", "" })
                .AddArray("nested", GgufValueType.Array, new[] { new GgufArray(GgufValueType.Int32, new[] { 1, 2 }), new GgufArray(GgufValueType.Int32, Array.Empty<int>()) })
                .AddTensor("t", GgmlType.Q8_0, new long[] { 32, 2 }, data)
                .WriteFile(path);

            using var gguf = GgufFile.Open(path);
            var m = gguf.Metadata;
            Assert.Equal((byte)7, m["u8"]);
            Assert.Equal((sbyte)-7, m["i8"]);
            Assert.Equal((ushort)65000, m["u16"]);
            Assert.Equal((short)-300, m["i16"]);
            Assert.Equal(4000000000L, m.GetInteger("u32"));
            Assert.Equal(-5, m.GetInteger("i32"));
            Assert.Equal(1.5f, m.GetFloat("f32"));
            Assert.True(m.TryGetBool("b"));
            Assert.Equal(ulong.MaxValue, m["u64"]);
            Assert.Equal(long.MinValue, m.GetInteger("i64"));
            Assert.Equal(Math.PI, m["f64"]);
            Assert.Equal(new[] { "a", "é", "" }, m.TryGetStringArray("strings"));
            var nested = (GgufArray[])m.GetArray("nested").Values;
            Assert.Equal(new[] { 1, 2 }, nested[0].Values);
            Assert.Empty(nested[1].Values);
            Assert.Equal(data, gguf.GetData(gguf.GetTensor("t")).ToArray());
            Assert.Equal(0, gguf.GetTensor("t").FileOffset % 32);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
