using System.Globalization;

namespace Tessera.Planner;

/// <summary>
/// What placing a model costs: bytes and FLOPs of each transformer block, the embedding held by the first stage,
/// the output norm and head held by the last, the KV cache per token and the activation sent between stages.
/// Build one with <see cref="FromTensors"/> (from a GGUF file's tensor table: see Tessera.Planner.Gguf) or
/// <see cref="Uniform"/> (a synthetic model for tests and what-if questions).
/// </summary>
public sealed record ModelProfile
{
    private readonly IReadOnlyList<long> _layerWeightBytes = [];
    private readonly long[] _prefixBytes = [0];
    private long[]? _readPrefix;

    /// <summary>A name for logs and messages.</summary>
    public required string Name { get; init; }

    /// <summary>Weight bytes of each block; the count is the layer count.</summary>
    public required IReadOnlyList<long> LayerWeightBytes
    {
        get => _layerWeightBytes;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            _layerWeightBytes = value;
            var prefix = new long[value.Count + 1];
            for (var i = 0; i < value.Count; i++)
                prefix[i + 1] = prefix[i] + value[i];
            _prefixBytes = prefix;
        }
    }

    /// <summary>
    /// Bytes a decoded token reads in each block, where that is less than the block holds: a mixture of experts reads
    /// only its chosen experts (<c>expert_used_count</c> of <c>expert_count</c>). Null: every byte (dense models).
    /// </summary>
    public IReadOnlyList<long>? LayerReadBytes
    {
        get;
        init
        {
            field = value;
            if (value is null)
            {
                _readPrefix = null;
                return;
            }
            var prefix = new long[value.Count + 1];
            for (var i = 0; i < value.Count; i++)
                prefix[i + 1] = prefix[i] + value[i];
            _readPrefix = prefix;
        }
    }

    /// <summary>Prefix sums of what each block reads per token (<see cref="LayerReadBytes"/>, else its weight bytes).</summary>
    internal long[] LayerReadPrefixBytes => _readPrefix ?? _prefixBytes;

    /// <summary>FLOPs one decoded token costs in each block (about 2 x parameters; of experts, the chosen ones).</summary>
    public required IReadOnlyList<double> LayerFlopsPerToken { get; init; }

    /// <summary>
    /// How each block's FLOPs divide among the types its weights are stored in (a Q4_K_M block: Q4_K and Q6_K
    /// matrices, F32 norms), in the order the tensors came: the prefill FLOP/s of a CPU depend on the type
    /// (<see cref="PlannerOptions.CpuFlopsPerByteByType"/>). Read as shares of <see cref="LayerFlopsPerToken"/>;
    /// tensors of no known type are left out. Null, or a block with no entry: the types are unknown.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<WeightTypeFlops>>? LayerFlopsByType { get; init; }

    /// <summary>KV cache bytes one token position costs in one block: 2 x KV width x bytes per element.</summary>
    public required long KvBytesPerTokenPerLayer { get; init; }

    /// <summary>Token embedding bytes, held by the first stage (it reads one row per token).</summary>
    public required long EmbeddingBytes { get; init; }

    /// <summary>
    /// Output norm and output head bytes, held by the last stage and read in full for every token. When the head is
    /// tied to the embedding (<see cref="TiedEmbedding"/>), this includes the embedding matrix.
    /// </summary>
    public required long HeadBytes { get; init; }

    /// <summary>FLOPs of the output head per token (2 x vocabulary x hidden size).</summary>
    public required double HeadFlopsPerToken { get; init; }

    /// <summary>True when the file has no output.weight and the last stage uses token_embd.weight as its head.</summary>
    public bool TiedEmbedding { get; init; }

    /// <summary>Tensors outside blocks, embedding and head (e.g. rope_freqs.weight): every stage holds a copy.</summary>
    public long SharedBytes { get; init; }

    /// <summary>Hidden size (embedding length): the width of the activation sent from stage to stage.</summary>
    public required int HiddenSize { get; init; }

    /// <summary>Vocabulary size: the last stage keeps a logits buffer of this many f32 per session.</summary>
    public required int VocabSize { get; init; }

    public int LayerCount => LayerWeightBytes.Count;

    /// <summary>Bytes of the whole model, the tied matrix counted once: the sum of the file's tensor sizes.</summary>
    public long TotalWeightBytes =>
        LayerPrefixBytes[LayerCount] + EmbeddingBytes + (TiedEmbedding ? HeadBytes - EmbeddingBytes : HeadBytes) + SharedBytes;

    /// <summary>Bytes one token's activation takes on the wire between two stages.</summary>
    public long ActivationBytesPerToken(int bytesPerElement) => (long)HiddenSize * bytesPerElement;

    /// <summary>KV cache bytes for <paramref name="layers"/> blocks, <paramref name="contextLength"/> positions and <paramref name="sessions"/> sessions.</summary>
    public long KvBytes(int layers, int contextLength, int sessions) => KvBytesPerTokenPerLayer * layers * (long)contextLength * sessions;

    /// <summary>Prefix sums of <see cref="LayerWeightBytes"/> (length LayerCount + 1).</summary>
    internal long[] LayerPrefixBytes => _prefixBytes;

    /// <summary>Weight bytes of the blocks in <paramref name="layers"/> (no embedding or head).</summary>
    public long LayerBytes(LayerSpan layers) => LayerPrefixBytes[layers.Last] - LayerPrefixBytes[layers.First];

    /// <summary>
    /// All weight bytes a stage holding <paramref name="layers"/> keeps in memory: its blocks, the embedding when it
    /// is first, the head when it is last (the tied matrix once when it is both), and the shared tensors.
    /// </summary>
    public long StageWeightBytes(LayerSpan layers)
    {
        var bytes = LayerBytes(layers) + SharedBytes;
        var first = layers.First == 0;
        var last = layers.Last == LayerCount;
        if (first)
            bytes += EmbeddingBytes;
        if (last)
            bytes += first && TiedEmbedding ? HeadBytes - EmbeddingBytes : HeadBytes;
        return bytes;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        if (LayerCount == 0)
            throw new ArgumentException($"Model profile '{Name}' has no layers.");
        if (LayerFlopsPerToken.Count != LayerCount)
            throw new ArgumentException($"Model profile '{Name}' has {LayerCount} layer sizes but {LayerFlopsPerToken.Count} layer FLOP counts.");
        for (var i = 0; i < LayerCount; i++)
        {
            if (LayerWeightBytes[i] < 0 || !(LayerFlopsPerToken[i] >= 0))
                throw new ArgumentException($"Model profile '{Name}': layer {i} has negative bytes or FLOPs.");
            if (LayerReadBytes is { } read && (read.Count != LayerCount || read[i] < 0 || read[i] > LayerWeightBytes[i]))
                throw new ArgumentException($"Model profile '{Name}': layer {i} reads more bytes per token than it holds, or a negative number.");
            if (LayerFlopsByType is { } types && (types.Count != LayerCount || types[i].Any(t => !(t.FlopsPerToken >= 0))))
                throw new ArgumentException($"Model profile '{Name}': layer {i} has no weight types entry, or a negative FLOP count for one.");
        }
        if (KvBytesPerTokenPerLayer < 0 || EmbeddingBytes < 0 || HeadBytes < 0 || SharedBytes < 0 || HiddenSize <= 0 || VocabSize < 0)
            throw new ArgumentException($"Model profile '{Name}' has a negative size.");
        if (TiedEmbedding && HeadBytes < EmbeddingBytes)
            throw new ArgumentException($"Model profile '{Name}' ties its head to the embedding but its head bytes are smaller than the embedding's.");
    }

    /// <summary>
    /// Profiles a model from its tensor table. Tensors named blk.N.* belong to layer N; token_embd.weight is the
    /// embedding; output_norm.weight and output.weight the head (token_embd.weight again when output.weight is
    /// absent); anything else is shared by every stage. FLOPs are 2 x parameters, divided among the blocks' weight types
    /// when the tensors carry theirs (<see cref="LayerFlopsByType"/>). Stacked expert tensors
    /// (<c>blk.N.ffn_*_exps.*</c>) are held whole but read, and computed, for <see cref="ModelShape.ExpertsUsed"/> of
    /// <see cref="ModelShape.ExpertCount"/> experts per token.
    /// </summary>
    public static ModelProfile FromTensors(ModelShape shape, IEnumerable<TensorSize> tensors)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentOutOfRangeException.ThrowIfLessThan(shape.BlockCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(shape.EmbeddingLength, 1);
        var layerBytes = new long[shape.BlockCount];
        var layerRead = new long[shape.BlockCount];
        var layerFlops = new double[shape.BlockCount];
        var layerTypes = new List<WeightTypeFlops>[shape.BlockCount];
        var typed = false;
        var experts = shape.ExpertCount > 0;
        long embedding = 0, head = 0, shared = 0;
        double headFlops = 0;
        var hasOutput = false;
        foreach (var t in tensors)
        {
            if (TryParseBlock(t.Name, out var block))
            {
                if (block >= shape.BlockCount)
                    throw new ArgumentException($"Tensor '{t.Name}' names block {block} but the model has {shape.BlockCount} blocks.");
                layerBytes[block] += t.ByteSize;
                var share = experts && t.Name.Contains("_exps.", StringComparison.Ordinal) ? (double)shape.ExpertsUsed / shape.ExpertCount : 1;
                layerRead[block] += (long)(t.ByteSize * share);
                layerFlops[block] += 2.0 * t.ElementCount * share;
                if (!string.IsNullOrEmpty(t.Type))
                {
                    typed = true;
                    AddFlops(layerTypes[block] ??= [], t.Type, 2.0 * t.ElementCount * share);
                }
            }
            else if (t.Name == "token_embd.weight")
            {
                embedding += t.ByteSize;
                if (!hasOutput)
                    headFlops = 2.0 * t.ElementCount; // replaced by output.weight's when present
            }
            else if (t.Name == "output.weight")
            {
                hasOutput = true;
                head += t.ByteSize;
                headFlops = 2.0 * t.ElementCount;
            }
            else if (t.Name == "output_norm.weight")
            {
                head += t.ByteSize;
            }
            else
            {
                shared += t.ByteSize;
            }
        }

        return new ModelProfile
        {
            Name = shape.Name,
            LayerWeightBytes = layerBytes,
            LayerReadBytes = experts ? layerRead : null,
            LayerFlopsPerToken = layerFlops,
            LayerFlopsByType = typed ? layerTypes.Select(t => t is null ? (IReadOnlyList<WeightTypeFlops>)[] : t).ToArray() : null,
            KvBytesPerTokenPerLayer = 2L * shape.KvWidth * shape.KvBytesPerElement,
            EmbeddingBytes = embedding,
            HeadBytes = hasOutput ? head : head + embedding,
            HeadFlopsPerToken = headFlops,
            TiedEmbedding = !hasOutput,
            SharedBytes = shared,
            HiddenSize = shape.EmbeddingLength,
            VocabSize = shape.VocabSize,
        };
    }

    /// <summary>
    /// A synthetic model whose blocks are all <paramref name="layerBytes"/> bytes: for tests and what-if planning.
    /// FLOPs assume about one byte per parameter (8-bit weights); KV cache is f32. <paramref name="weightType"/>, when
    /// given, is the type every block is stored in (for a CPU's prefill FLOP/s); null leaves it unknown.
    /// </summary>
    public static ModelProfile Uniform(string name, int layers, long layerBytes, int hiddenSize = 4096, int kvWidth = 1024,
        int vocabSize = 32000, long embeddingBytes = 0, long headBytes = 0, string? weightType = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        IReadOnlyList<WeightTypeFlops> blockTypes = weightType is null ? [] : [new WeightTypeFlops(weightType, 2.0 * layerBytes)];
        return new ModelProfile
        {
            Name = name,
            LayerWeightBytes = Enumerable.Repeat(layerBytes, layers).ToArray(),
            LayerFlopsPerToken = Enumerable.Repeat(2.0 * layerBytes, layers).ToArray(),
            LayerFlopsByType = weightType is null ? null : Enumerable.Repeat(blockTypes, layers).ToArray(),
            KvBytesPerTokenPerLayer = 2L * kvWidth * sizeof(float),
            EmbeddingBytes = embeddingBytes,
            HeadBytes = headBytes,
            HeadFlopsPerToken = 2.0 * headBytes,
            HiddenSize = hiddenSize,
            VocabSize = vocabSize,
        };
    }

    private static void AddFlops(List<WeightTypeFlops> types, string type, double flops)
    {
        for (var i = 0; i < types.Count; i++)
        {
            if (string.Equals(types[i].Type, type, StringComparison.Ordinal))
            {
                types[i] = types[i] with { FlopsPerToken = types[i].FlopsPerToken + flops };
                return;
            }
        }
        types.Add(new WeightTypeFlops(type, flops));
    }

    private static bool TryParseBlock(string name, out int block)
    {
        block = -1;
        if (!name.StartsWith("blk.", StringComparison.Ordinal))
            return false;
        var end = name.IndexOf('.', 4);
        var digits = end < 0 ? name.AsSpan(4) : name.AsSpan(4, end - 4);
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out block);
    }
}
