using System.Globalization;
using Tessera.Engine.Gguf;

namespace Tessera.Engine.Model;

/// <summary>
/// Hyper-parameters of a Llama-family model (Llama, Mistral, Mixtral, Qwen 2, Qwen2-MoE, Phi-3, Gemma 2), all read from GGUF metadata. Every count is read with its range checked
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

    /// <summary>The feed-forward's gate activation: SiLU (Llama, Qwen, Phi-3) or GELU in its tanh form (Gemma 2).</summary>
    public GateActivation GateActivation { get; init; } = GateActivation.Silu;

    /// <summary>What the token embedding is multiplied by (Gemma 2: the square root of its width); 1 for most models.</summary>
    public float EmbeddingScale { get; init; } = 1;

    /// <summary>
    /// The query's scale before attention (1/sqrt(head size) unless the model says otherwise). With
    /// <see cref="ScaleQueryFirst"/> it is applied to the query after RoPE, as llama.cpp does for Phi-3 and Gemma 2 (the
    /// scores are then not scaled again); else to the scores.
    /// </summary>
    public float QueryScale { get; init; }

    /// <inheritdoc cref="QueryScale"/>
    public bool ScaleQueryFirst { get; init; }

    /// <summary>Attention scores capped to <c>cap * tanh(s / cap)</c> before the soft max (Gemma 2); 0: not capped.</summary>
    public float AttentionSoftCap { get; init; }

    /// <summary>Logits capped to <c>cap * tanh(z / cap)</c> (Gemma 2); 0: not capped.</summary>
    public float FinalSoftCap { get; init; }

    /// <summary>Positions a query sees in sliding-window layers (itself included); 0: no sliding window.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>The pooling the model declares for embeddings (<c>{arch}.pooling_type</c>, llama.cpp's numbers: 0 none, 1 mean, 2 cls, 3 last, 4 rank); null when absent.</summary>
    public int? PoolingType { get; init; }

    /// <summary>Which layers use <see cref="SlidingWindow"/>.</summary>
    public SlidingLayers SlidingLayers { get; init; }

    /// <summary>Gemma 2: the attention's and the feed-forward's outputs are RMS-normed (with their own weights) before the residual add.</summary>
    public bool PostNorms { get; init; }

    /// <summary>The window layer <paramref name="layer"/> attends within (0: every earlier position).</summary>
    public int WindowOf(int layer) => SlidingLayers switch
    {
        SlidingLayers.All => SlidingWindow,
        SlidingLayers.Even when layer % 2 == 0 => SlidingWindow,
        _ => 0,
    };

    /// <summary>Experts of a mixture-of-experts block (<c>{arch}.expert_count</c>); 0 for a dense model.</summary>
    public int ExpertCount { get; init; }

    /// <summary>Experts each token goes through (<c>{arch}.expert_used_count</c>).</summary>
    public int ExpertUsedCount { get; init; }

    /// <summary>Each expert's inner width (Mixtral: <c>feed_forward_length</c>; Qwen2-MoE: <c>expert_feed_forward_length</c>).</summary>
    public int ExpertFeedForwardLength { get; init; }

    /// <summary>Qwen2-MoE's shared expert's inner width (<c>expert_shared_feed_forward_length</c>); 0: none.</summary>
    public int SharedExpertFeedForwardLength { get; init; }

    /// <summary>Whether the chosen experts' weights are divided by their sum (Mixtral) or used as the soft max gave them (Qwen2-MoE).</summary>
    public bool NormalizeExpertWeights { get; init; }

    public bool IsMixtureOfExperts => ExpertCount > 0;

    /// <summary>Most experts a block may declare (DeepSeek-V3 has 256): bounds per-token routing arrays.</summary>
    public const int MaxExperts = 1024;

    /// <summary>Architectures whose GGUF layout this engine runs.</summary>
    public static IReadOnlyList<string> SupportedArchitectures { get; } = ["llama", "qwen2", "mistral", "phi3", "gemma2", "qwen2moe"];

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

        var experts = m.TryGetInt32(Key("expert_count"), 0, MaxExperts) ?? 0;
        if (arch == "qwen2moe" && experts == 0)
            throw m.Invalid(Key("expert_count"), "is missing or 0: a qwen2moe model has experts");
        var expertsUsed = experts > 0 ? m.GetInt32(Key("expert_used_count"), 1, experts) : 0;
        var feedForward = Count("feed_forward_length");
        var expertFeedForward = experts == 0 ? 0 : OptionalCount("expert_feed_forward_length") ?? feedForward;
        if (m.TryGetInt32(Key("attention.value_length"), 1, int.MaxValue) is { } valueLength && valueLength != headDim)
            throw m.Invalid(Key("attention.value_length"), Invariant(
                $"has value {valueLength}, unlike the key width {headDim}: keys and values of different widths are not supported"));
        if (arch == "phi3" && (file.TryGetTensor("rope_factors_long.weight", out _) || file.TryGetTensor("rope_factors_short.weight", out _)))
            throw new GgufFormatException(file.FilePath,
                "this phi3 model uses LongRoPE scaling (rope_factors_long/short), which tessera does not compute yet; use a 4k-context Phi-3 model.");

        var scalingType = m.TryGetString(Key("rope.scaling.type"));
        var scale = 1f;
        if (scalingType is "linear" && m.TryGetFloat(Key("rope.scaling.factor")) is { } factor && factor > 0)
            scale = 1f / factor;
        else if (m.TryGetFloat(Key("rope.scale_linear")) is { } linear && linear > 0)
            scale = 1f / linear;

        var blocks = ReadBlockCount(m, arch);
        var window = arch is "phi3" or "gemma2" ? OptionalCount("attention.sliding_window") ?? 0 : 0;
        var gemma = arch == "gemma2";
        return new ModelConfig
        {
            Architecture = arch,
            EmbeddingLength = embedding,
            BlockCount = blocks,
            HeadCount = heads,
            HeadCountKv = kvHeads,
            HeadDim = headDim,
            FeedForwardLength = feedForward,
            RmsNormEps = m.TryGetFloat(Key("attention.layer_norm_rms_epsilon")) ?? 1e-5f,
            RopeFreqBase = m.TryGetFloat(Key("rope.freq_base")) ?? 10000f,
            RopeFreqScale = scale,
            RopeDimensions = ropeDimensions,
            RopeKind = arch is "qwen2" or "qwen2moe" or "phi3" or "gemma2" ? RopeKind.NeoX : RopeKind.Normal,
            ContextLength = contextLength,
            VocabSize = ReadVocabSize(file, Key("vocab_size")),
            GateActivation = gemma ? GateActivation.Gelu : GateActivation.Silu,
            EmbeddingScale = gemma ? MathF.Sqrt(embedding) : 1,
            // llama.cpp's Gemma 2: the 27B model (46 blocks) scales queries by its width per head, the others by the head size.
            QueryScale = 1f / MathF.Sqrt(gemma && blocks == 46 ? embedding / heads : headDim),
            ScaleQueryFirst = arch is "phi3" or "gemma2",
            AttentionSoftCap = gemma ? SoftCap(m, Key("attn_logit_softcapping")) : 0,
            FinalSoftCap = gemma ? SoftCap(m, Key("final_logit_softcapping")) : 0,
            SlidingWindow = window,
            SlidingLayers = window == 0 ? SlidingLayers.None : gemma ? SlidingLayers.Even : SlidingLayers.All,
            PostNorms = gemma,
            ExpertCount = experts,
            PoolingType = m.TryGetInt32(Key("pooling_type"), 0, 4),
            ExpertUsedCount = expertsUsed,
            ExpertFeedForwardLength = expertFeedForward,
            SharedExpertFeedForwardLength = experts > 0 ? OptionalCount("expert_shared_feed_forward_length") ?? 0 : 0,
            // llama.cpp: Mixtral-style llama models renormalise the chosen experts' weights, Qwen2-MoE does not.
            NormalizeExpertWeights = arch != "qwen2moe",
        };
    }

    /// <summary>A soft-cap value: positive and finite when present; 0 (no cap) when absent.</summary>
    private static float SoftCap(GgufMetadata m, string key)
    {
        var cap = m.TryGetFloat(key) ?? 0;
        if (cap < 0 || !float.IsFinite(cap))
            throw m.Invalid(key, Invariant($"has value {cap}; a soft cap must be a positive number"));
        return cap;
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

/// <summary>The activation of a gated feed-forward's gate.</summary>
public enum GateActivation
{
    Silu,

    /// <summary>GELU in its tanh form, as llama.cpp evaluates it (through an f16 table).</summary>
    Gelu,
}

/// <summary>Which layers attend within a sliding window.</summary>
public enum SlidingLayers
{
    None,
    All,

    /// <summary>Layers 0, 2, 4, ... (Gemma 2).</summary>
    Even,
}
