using System.Globalization;
using Tessera.Engine.Gguf;

namespace Tessera.Engine.Model;

/// <summary>
/// Hyper-parameters of a Llama-family model, all read from GGUF metadata. Every count is read with its range checked
/// and every product the engine forms from them (head widths, key/value widths) is checked to fit, so a corrupt or
/// hostile file is refused here with the key and its value, not later as an overflow, a wrapped size or an index
/// out of range inside a kernel.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>
    /// Most blocks a model may declare: hundreds of times the ~130 of the largest models today, yet small enough that
    /// arrays sized by the block count (per-layer profiles, plans) stay small whatever a file claims.
    /// </summary>
    public const int MaxBlockCount = 1 << 16;

    /// <summary>Largest vocabulary: the most entries a metadata array (the token list) may have.</summary>
    public const int MaxVocabSize = GgufHeaderParser.MaxArrayElements;

    public required string Architecture { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int HeadCount { get; init; }
    public required int HeadCountKv { get; init; }
    public required int HeadDim { get; init; }
    public required int FeedForwardLength { get; init; }
    public required float RmsNormEps { get; init; }
    public required float RopeFreqBase { get; init; }

    /// <summary>Multiplier applied to positions (1 / linear scaling factor).</summary>
    public required float RopeFreqScale { get; init; }
    public required int RopeDimensions { get; init; }
    public required RopeKind RopeKind { get; init; }
    public required int ContextLength { get; init; }
    public required int VocabSize { get; init; }

    public int QueryWidth => HeadCount * HeadDim;
    public int KvWidth => HeadCountKv * HeadDim;

    /// <summary>Architectures whose GGUF layout this engine runs.</summary>
    public static IReadOnlyList<string> SupportedArchitectures { get; } = ["llama", "qwen2", "mistral"];

    /// <summary>
    /// <c>{arch}.block_count</c>, between 1 and <see cref="MaxBlockCount"/>; the one reading of it for the engine and
    /// for tools that cut files by layer (any architecture).
    /// </summary>
    /// <exception cref="GgufFormatException">Missing, not an integer, or out of range.</exception>
    public static int ReadBlockCount(GgufMetadata metadata, string architecture)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return metadata.GetInt32($"{architecture}.block_count", 1, MaxBlockCount);
    }

    /// <exception cref="GgufFormatException">The architecture is not supported, or a hyper-parameter is missing or invalid.</exception>
    public static ModelConfig FromGguf(GgufFile file)
    {
        var m = file.Metadata;
        var arch = file.Architecture;
        if (!SupportedArchitectures.Contains(arch))
            throw new GgufFormatException(file.FilePath,
                $"architecture '{arch}' is not supported (supported: {string.Join(", ", SupportedArchitectures)}).");

        string Key(string name) => $"{arch}.{name}";
        int Count(string name) => m.GetInt32(Key(name), 1, int.MaxValue);
        int? OptionalCount(string name, int max = int.MaxValue) => m.TryGetInt32(Key(name), 1, max);

        var embedding = Count("embedding_length");
        var heads = Count("attention.head_count");
        var kvHeads = OptionalCount("attention.head_count_kv") ?? heads;
        if (heads % kvHeads != 0)
            throw m.Invalid(Key("attention.head_count_kv"), Invariant(
                $"has value {kvHeads}, which does not divide {Key("attention.head_count")} ({heads}): query heads must be a multiple of key/value heads"));
        var headDim = OptionalCount("attention.key_length") ?? embedding / heads;
        if (headDim == 0)
            throw m.Invalid(Key("attention.head_count"), Invariant(
                $"has value {heads}, more than {Key("embedding_length")} ({embedding}): each head would have no width"));
        CheckWidth(m, Key("attention.head_count"), heads, headDim);
        CheckWidth(m, Key("attention.head_count_kv"), kvHeads, headDim);

        // Rotary pairs index into one head: more rotated dimensions than a head has would read past it.
        var ropeDimensions = OptionalCount("rope.dimension_count", max: headDim) ?? headDim;
        var contextLength = OptionalCount("context_length") ?? 2048;
        // A stage's rotary table holds every position of the context: context x pairs values in one array.
        var ropeValues = (long)contextLength * (ropeDimensions / 2);
        if (ropeValues > Array.MaxLength)
            throw m.Invalid(Key("context_length"), Invariant(
                $"has value {contextLength}, which times the {ropeDimensions / 2} rotary pairs of a head is {ropeValues} values, more than one table can hold ({Array.MaxLength})"));

        var scalingType = m.TryGetString(Key("rope.scaling.type"));
        var scale = 1f;
        if (scalingType is "linear" && m.TryGetFloat(Key("rope.scaling.factor")) is { } factor && factor > 0)
            scale = 1f / factor;
        else if (m.TryGetFloat(Key("rope.scale_linear")) is { } linear && linear > 0)
            scale = 1f / linear;

        return new ModelConfig
        {
            Architecture = arch,
            EmbeddingLength = embedding,
            BlockCount = ReadBlockCount(m, arch),
            HeadCount = heads,
            HeadCountKv = kvHeads,
            HeadDim = headDim,
            FeedForwardLength = Count("feed_forward_length"),
            RmsNormEps = m.TryGetFloat(Key("attention.layer_norm_rms_epsilon")) ?? 1e-5f,
            RopeFreqBase = m.TryGetFloat(Key("rope.freq_base")) ?? 10000f,
            RopeFreqScale = scale,
            RopeDimensions = ropeDimensions,
            RopeKind = arch == "qwen2" ? RopeKind.NeoX : RopeKind.Normal,
            ContextLength = contextLength,
            VocabSize = ReadVocabSize(file, Key("vocab_size")),
        };
    }

    /// <summary>The vocabulary size: the token list's length, else <c>{arch}.vocab_size</c>, else the embedding's rows; 0 when none says.</summary>
    private static int ReadVocabSize(GgufFile file, string vocabKey)
    {
        var m = file.Metadata;
        if (m.TryGetStringArray("tokenizer.ggml.tokens") is { } tokens)
            return tokens.Length;
        if (m.TryGetInt32(vocabKey, 1, MaxVocabSize) is { } declared)
            return declared;
        if (!file.TryGetTensor("token_embd.weight", out var embedding))
            return 0;
        var rows = embedding.Dimensions.Length > 1 ? embedding.Dimensions[1] : 1;
        if (rows > MaxVocabSize)
            throw new GgufFormatException(file.FilePath, embedding.FileOffset, Invariant(
                $"tensor 'token_embd.weight' ({embedding.ShapeText}) has {rows} rows, more than the {MaxVocabSize} tokens a vocabulary may have; the file is corrupt or not a supported model."));
        return (int)rows;
    }

    /// <summary>heads × head width (the query or key/value width) must fit in an int: buffers and matrix shapes use it.</summary>
    private static void CheckWidth(GgufMetadata m, string headKey, int heads, int headDim)
    {
        var width = (long)heads * headDim;
        if (width > int.MaxValue)
            throw m.Invalid(headKey, Invariant($"has value {heads}, which times the head width {headDim} is {width}, more than {int.MaxValue}"));
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
