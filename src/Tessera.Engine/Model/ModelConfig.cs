using Tessera.Engine.Gguf;

namespace Tessera.Engine.Model;

/// <summary>Hyper-parameters of a Llama-family model, all read from GGUF metadata.</summary>
public sealed record ModelConfig
{
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

    public static ModelConfig FromGguf(GgufFile file)
    {
        var m = file.Metadata;
        var arch = file.Architecture;
        if (!SupportedArchitectures.Contains(arch))
            throw new GgufFormatException(file.FilePath,
                $"architecture '{arch}' is not supported (supported: {string.Join(", ", SupportedArchitectures)}).");

        int Int(string key) => checked((int)m.GetInteger($"{arch}.{key}"));
        var embedding = Int("embedding_length");
        var heads = Int("attention.head_count");
        var kvHeads = (int?)m.TryGetInteger($"{arch}.attention.head_count_kv") ?? heads;
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
            throw new GgufFormatException(file.FilePath, $"head counts {heads}/{kvHeads} are invalid (query heads must be a positive multiple of key/value heads).");
        var headDim = (int?)m.TryGetInteger($"{arch}.attention.key_length") ?? embedding / heads;
        var vocab = m.TryGetStringArray("tokenizer.ggml.tokens")?.Length
            ?? (int?)m.TryGetInteger($"{arch}.vocab_size")
            ?? (file.TryGetTensor("token_embd.weight", out var e) ? (int)e.Dimensions[1] : 0);
        var scalingType = m.TryGetString($"{arch}.rope.scaling.type");
        var scale = 1f;
        if (scalingType is "linear" && m.TryGetFloat($"{arch}.rope.scaling.factor") is { } factor && factor > 0)
            scale = 1f / factor;
        else if (m.TryGetFloat($"{arch}.rope.scale_linear") is { } linear && linear > 0)
            scale = 1f / linear;

        return new ModelConfig
        {
            Architecture = arch,
            EmbeddingLength = embedding,
            BlockCount = Int("block_count"),
            HeadCount = heads,
            HeadCountKv = kvHeads,
            HeadDim = headDim,
            FeedForwardLength = Int("feed_forward_length"),
            RmsNormEps = m.TryGetFloat($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5f,
            RopeFreqBase = m.TryGetFloat($"{arch}.rope.freq_base") ?? 10000f,
            RopeFreqScale = scale,
            RopeDimensions = (int?)m.TryGetInteger($"{arch}.rope.dimension_count") ?? headDim,
            RopeKind = arch == "qwen2" ? RopeKind.NeoX : RopeKind.Normal,
            ContextLength = (int?)m.TryGetInteger($"{arch}.context_length") ?? 2048,
            VocabSize = vocab,
        };
    }
}
