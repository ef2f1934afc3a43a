using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Engine.Tensors;
using Tessera.Engine.Tests.Gguf;

namespace Tessera.Engine.Tests.Model;

/// <summary>
/// Model hyper-parameters that do not fit, are negative or zero, or whose products overflow: each is refused by
/// <see cref="ModelConfig.FromGguf"/> with a <see cref="GgufFormatException"/> naming the key, its value and the
/// range, at the value's offset; never an <see cref="OverflowException"/>, a wrapped value or an index out of range.
/// </summary>
public sealed class ModelConfigHostileMetadataTests : IDisposable
{
    private const string Corrupt = "the file is corrupt or not a supported model.";

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A small valid Llama configuration (head width 64) with <paramref name="overrides"/> replacing or adding keys.</summary>
    private string Write(params (string Key, object Value)[] overrides)
    {
        var values = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["general.architecture"] = "llama",
            ["llama.embedding_length"] = 256u,
            ["llama.block_count"] = 4u,
            ["llama.feed_forward_length"] = 512u,
            ["llama.attention.head_count"] = 4u,
            ["llama.attention.head_count_kv"] = 2u,
            ["llama.context_length"] = 2048u,
        };
        foreach (var (key, value) in overrides)
            values[key] = value;
        var writer = new GgufWriter();
        foreach (var (key, value) in values)
            writer.Add(key, value);
        var path = _dir.File($"config-{Guid.NewGuid():N}.gguf");
        writer.WriteFile(path);
        return path;
    }

    private static GgufFormatException ConfigFails(string path, string key, params string[] fragments)
    {
        using var gguf = GgufFile.Open(path);
        var e = Assert.Throws<GgufFormatException>(() => ModelConfig.FromGguf(gguf));
        Assert.Equal(path, e.FilePath);
        Assert.Equal(gguf.Metadata.GetValueOffset(key), e.Offset);
        Assert.StartsWith($"metadata key '{key}' ", e.Problem, StringComparison.Ordinal);
        foreach (var fragment in fragments)
            Assert.Contains(fragment, e.Problem, StringComparison.Ordinal);
        return e;
    }

    [Fact]
    public void ValidConfiguration_Reads()
    {
        using var gguf = GgufFile.Open(Write());

        var config = ModelConfig.FromGguf(gguf);

        Assert.Equal((256, 4, 4, 2, 64, 128), (config.EmbeddingLength, config.BlockCount, config.HeadCount, config.HeadCountKv, config.HeadDim, config.KvWidth));
    }

    public static TheoryData<string, object, string> OutOfRangeValues => new()
    {
        // Counts that do not fit in an int: they used to escape as OverflowException or wrap to small numbers.
        { "llama.block_count", (1UL << 32) + 1, "has value 4294967297, outside the range 1 to 65536" },
        { "llama.block_count", ulong.MaxValue, "has value 18446744073709551615, outside the range 1 to 65536" },
        { "llama.block_count", 100_000u, "has value 100000, outside the range 1 to 65536" },
        { "llama.embedding_length", 1UL << 31, "has value 2147483648, outside the range 1 to 2147483647" },
        { "llama.attention.head_count_kv", uint.MaxValue, "has value 4294967295, outside the range 1 to 2147483647" },
        { "llama.attention.key_length", 1L << 40, "has value 1099511627776, outside the range 1 to 2147483647" },
        { "llama.context_length", (1UL << 32) + 2048, "has value 4294969344, outside the range 1 to 2147483647" },
        { "llama.vocab_size", 1u << 30, "has value 1073741824, outside the range 1 to 16777216" },
        // Negative and zero counts.
        { "llama.block_count", 0u, "has value 0, outside the range 1 to 65536" },
        { "llama.block_count", -1, "has value -1, outside the range 1 to 65536" },
        { "llama.embedding_length", -4096L, "has value -4096, outside the range 1 to 2147483647" },
        { "llama.embedding_length", long.MinValue, "has value -9223372036854775808" },
        { "llama.attention.head_count", 0u, "has value 0, outside the range 1 to 2147483647" },
        { "llama.feed_forward_length", (short)-1, "has value -1, outside the range 1 to 2147483647" },
        { "llama.context_length", -2048, "has value -2048, outside the range 1 to 2147483647" },
        // More rotated dimensions than a head has (64) would read past the head.
        { "llama.rope.dimension_count", 4096u, "has value 4096, outside the range 1 to 64" },
    };

    [Theory]
    [MemberData(nameof(OutOfRangeValues))]
    public void CountOutOfRange_IsAClearGgufError(string key, object value, string problem)
    {
        var e = ConfigFails(Write((key, value)), key, problem);

        Assert.EndsWith(Corrupt, e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void HeadCountTimesHeadWidthOverflowingAnInt_IsAClearGgufError() =>
        ConfigFails(
            Write(("llama.attention.head_count", 65536u), ("llama.attention.head_count_kv", 65536u), ("llama.attention.key_length", 65536u)),
            "llama.attention.head_count", "has value 65536, which times the head width 65536 is 4294967296, more than 2147483647", Corrupt);

    [Fact]
    public void KeyValueHeadsThatDoNotDivideTheHeads_AreAClearGgufError() =>
        ConfigFails(Write(("llama.attention.head_count_kv", 3u)), "llama.attention.head_count_kv",
            "has value 3, which does not divide llama.attention.head_count (4)", Corrupt);

    [Fact]
    public void MoreHeadsThanEmbeddingWidth_IsAClearGgufError() =>
        ConfigFails(Write(("llama.attention.head_count", 512u), ("llama.attention.head_count_kv", 512u)), "llama.attention.head_count",
            "has value 512, more than llama.embedding_length (256): each head would have no width", Corrupt);

    [Fact]
    public void ContextTooLongForTheRotaryTable_IsAClearGgufError() =>
        // 2^31 - 1 positions x 32 rotary pairs: far more than one array holds (it used to fail as an out-of-memory error).
        ConfigFails(Write(("llama.context_length", int.MaxValue)), "llama.context_length",
            "has value 2147483647, which times the 32 rotary pairs of a head is 68719476704 values", Corrupt);

    [Fact]
    public void CountOfTheWrongType_IsAClearGgufError() =>
        ConfigFails(Write(("llama.block_count", "32")), "llama.block_count", "should be an integer but is String");

    [Fact]
    public void BlockCount_IsReadTheSameWayByEveryone()
    {
        using var gguf = GgufFile.Open(Write(("llama.block_count", (1UL << 32) + 1)));

        var e = Assert.Throws<GgufFormatException>(() => ModelConfig.ReadBlockCount(gguf.Metadata, "llama"));

        Assert.Contains("'llama.block_count' has value 4294967297, outside the range 1 to 65536", e.Message);
    }

    [Fact]
    public void VocabularyFromAnEmbeddingWithTooManyRows_IsAClearGgufError()
    {
        // No token list and no vocab_size: the vocabulary is the embedding's row count, here 2^24 + 1 (one byte each).
        const long rows = (1L << 24) + 1;
        var path = _dir.File("embd.gguf");
        var writer = new GgufWriter();
        foreach (var (key, value) in new (string, object)[]
            {
                ("general.architecture", "llama"), ("llama.embedding_length", 256u), ("llama.block_count", 4u),
                ("llama.feed_forward_length", 512u), ("llama.attention.head_count", 4u),
            })
            writer.Add(key, value);
        writer.AddTensor("token_embd.weight", GgmlType.I8, [1, rows], s => s.Seek(rows, SeekOrigin.Current)); // sparse: nothing written
        writer.WriteFile(path);
        using var gguf = GgufFile.Open(path);

        var e = Assert.Throws<GgufFormatException>(() => ModelConfig.FromGguf(gguf));

        Assert.Equal(gguf.GetTensor("token_embd.weight").FileOffset, e.Offset);
        Assert.Contains("tensor 'token_embd.weight' (1 x 16777217) has 16777217 rows, more than the 16777216 tokens a vocabulary may have", e.Problem);
    }
}
