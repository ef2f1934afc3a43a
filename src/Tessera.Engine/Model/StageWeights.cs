using Tessera.Engine.Kernels;
using Tessera.Engine.Gguf;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Model;

/// <summary>
/// The tensors one stage needs: its blocks, plus the embedding when it is first and the output norm and
/// head when it is last. Shapes and types are checked here so a bad file fails at load with the tensor's name.
/// </summary>
public sealed class StageWeights : IDisposable
{
    private readonly WeightArena? _arena;

    private StageWeights(LayerWeights[] layers, WeightMatrix? embedding, WeightMatrix? head, float[]? outputNorm, float[]? ropeFactors, WeightArena? arena)
    {
        _arena = arena;
        Layers = layers;
        Embedding = embedding;
        Head = head;
        OutputNorm = outputNorm;
        RopeFreqFactors = ropeFactors;
    }

    public IReadOnlyList<LayerWeights> Layers { get; }

    public WeightMatrix? Embedding { get; }

    public WeightMatrix? Head { get; }

    public float[]? OutputNorm { get; }

    /// <summary>Per-pair rotary frequency divisors (Llama 3 style rope_freqs), when the file has them.</summary>
    public float[]? RopeFreqFactors { get; }

    /// <summary>Where the matrices are read from while the stage runs.</summary>
    public WeightStorage Storage => _arena is null ? WeightStorage.Map : WeightStorage.Copy;

    /// <summary>Experts each token goes through (0 for a dense model): what <see cref="BytesPerToken"/> counts of a mixture-of-experts block.</summary>
    public int ExpertsUsed { get; private init; }

    /// <summary>Bytes of weights read per token by this stage (what decode streams from memory; of experts, only the chosen ones).</summary>
    public long BytesPerToken
    {
        get
        {
            long total = 0;
            foreach (var l in Layers)
                total += l.ActiveBytes(ExpertsUsed);
            if (Head is { } h)
                total += h.ByteSize;
            return total;
        }
    }

    /// <summary>Frees the copied matrices (nothing for <see cref="WeightStorage.Map"/>); the stage must not run after.</summary>
    public void Dispose() => _arena?.Dispose();

    public static StageWeights Load(GgufFile file, ModelConfig config, LayerRange range, WeightStorage storage = WeightStorage.Auto)
    {
        if (range.Last > config.BlockCount)
            throw new ArgumentOutOfRangeException(nameof(range), $"Layer range {range} exceeds the model's {config.BlockCount} blocks.");
        var d = config.EmbeddingLength;
        var layers = new LayerWeights[range.Count];
        for (var i = 0; i < range.Count; i++)
        {
            var p = $"blk.{range.First + i}.";
            var (q, k, v) = Attention(file, config, p);
            (WeightMatrix? gate, WeightMatrix? up) = config.IsMixtureOfExperts ? ((WeightMatrix?)null, (WeightMatrix?)null) : GateAndUp(file, config, p);
            layers[i] = new LayerWeights(
                q, k, v,
                Matrix(file, p + "attn_output.weight", d, config.QueryWidth),
                gate, up,
                config.IsMixtureOfExperts ? null : Matrix(file, p + "ffn_down.weight", d, config.FeedForwardLength),
                Vector(file, p + "attn_norm.weight", d)!,
                Vector(file, p + "ffn_norm.weight", d)!,
                Vector(file, p + "attn_q.bias", config.QueryWidth, optional: true),
                Vector(file, p + "attn_k.bias", config.KvWidth, optional: true),
                Vector(file, p + "attn_v.bias", config.KvWidth, optional: true))
            {
                PostAttentionNorm = config.PostNorms ? Vector(file, p + "post_attention_norm.weight", d) : null,
                PostFeedForwardNorm = config.PostNorms ? Vector(file, p + "post_ffw_norm.weight", d) : null,
                Experts = config.IsMixtureOfExperts ? Experts(file, config, p) : null,
            };
        }

        WeightMatrix? embedding = range.First == 0 ? Matrix(file, "token_embd.weight", config.VocabSize, d) : null;
        WeightMatrix? head = null;
        float[]? outputNorm = null;
        if (range.Last == config.BlockCount)
        {
            outputNorm = Vector(file, "output_norm.weight", d);
            head = file.TryGetTensor("output.weight", out _)
                ? Matrix(file, "output.weight", config.VocabSize, d)
                : Matrix(file, "token_embd.weight", config.VocabSize, d); // tied embeddings
        }

        var ropeFactors = Vector(file, "rope_freqs.weight", config.RopeDimensions / 2, optional: true);
        WeightArena? arena = null;
        if (WeightStorages.Resolve(storage) == WeightStorage.Copy)
            (layers, head, arena) = CopyToArena(layers, head);
        return new StageWeights(layers, embedding, head, outputNorm, ropeFactors, arena) { ExpertsUsed = config.ExpertUsedCount };
    }

    /// <summary>Q, K and V: three tensors, or the rows of one fused <c>attn_qkv</c> (Phi-3) in that order.</summary>
    private static (WeightMatrix Q, WeightMatrix K, WeightMatrix V) Attention(GgufFile file, ModelConfig config, string prefix)
    {
        var d = config.EmbeddingLength;
        if (!file.TryGetTensor(prefix + "attn_qkv.weight", out _))
        {
            return (Matrix(file, prefix + "attn_q.weight", config.QueryWidth, d), Matrix(file, prefix + "attn_k.weight", config.KvWidth, d),
                Matrix(file, prefix + "attn_v.weight", config.KvWidth, d));
        }
        var fused = Matrix(file, prefix + "attn_qkv.weight", config.QueryWidth + 2 * config.KvWidth, d);
        return (fused.RowRange(0, config.QueryWidth, prefix + "attn_qkv.weight[q]"),
            fused.RowRange(config.QueryWidth, config.KvWidth, prefix + "attn_qkv.weight[k]"),
            fused.RowRange(config.QueryWidth + config.KvWidth, config.KvWidth, prefix + "attn_qkv.weight[v]"));
    }

    /// <summary>
    /// A mixture-of-experts block's router (<c>ffn_gate_inp</c>, one row per expert) and experts: expert e is rows
    /// <c>[e x width, (e + 1) x width)</c> of each stacked <c>ffn_*_exps</c> tensor (its last dimension is the expert).
    /// Qwen2-MoE adds a shared expert and its gate's input vector.
    /// </summary>
    private static ExpertWeights Experts(GgufFile file, ModelConfig config, string prefix)
    {
        var d = config.EmbeddingLength;
        var (count, ff) = (config.ExpertCount, config.ExpertFeedForwardLength);
        var router = Matrix(file, prefix + "ffn_gate_inp.weight", count, d);
        var gate = Stacked(file, prefix + "ffn_gate_exps.weight", count, ff, d);
        var up = Stacked(file, prefix + "ffn_up_exps.weight", count, ff, d);
        var down = Stacked(file, prefix + "ffn_down_exps.weight", count, d, ff);
        SharedExpert? shared = null;
        if (config.SharedExpertFeedForwardLength > 0)
        {
            var sff = config.SharedExpertFeedForwardLength;
            shared = new SharedExpert(Matrix(file, prefix + "ffn_gate_shexp.weight", sff, d), Matrix(file, prefix + "ffn_up_shexp.weight", sff, d),
                Matrix(file, prefix + "ffn_down_shexp.weight", d, sff), VectorMatrix(file, prefix + "ffn_gate_inp_shexp.weight", d));
        }
        return new ExpertWeights(router, gate, up, down, shared);
    }

    /// <summary>The <paramref name="count"/> experts of a stacked tensor {cols, rows, count}, each a matrix of its own.</summary>
    private static WeightMatrix[] Stacked(GgufFile file, string name, int count, int rows, int cols)
    {
        var tensor = file.GetTensor(name);
        var dims = tensor.Dimensions;
        if (dims.Length != 3 || dims[0] != cols || dims[1] != rows || dims[2] != count)
            throw new GgufFormatException(file.FilePath, tensor.FileOffset,
                $"tensor '{name}' has shape {tensor.ShapeText}, expected {cols} x {rows} x {count} (one {cols} x {rows} matrix per expert) from the model's metadata.");
        CheckComputable(file, tensor);
        var all = file.GetMatrix(tensor);
        var experts = new WeightMatrix[count];
        for (var e = 0; e < count; e++)
            experts[e] = all.RowRange(e * rows, rows, $"{name}[{e}]");
        return experts;
    }

    /// <summary>A vector used as a one-row matrix (Qwen2-MoE's shared-expert gate: one dot product per token).</summary>
    private static WeightMatrix VectorMatrix(GgufFile file, string name, int length)
    {
        var tensor = file.GetTensor(name);
        if (tensor.ElementCount != length || tensor.Dimensions[0] != length)
            throw new GgufFormatException(file.FilePath, tensor.FileOffset, $"tensor '{name}' has shape {tensor.ShapeText}, expected {length}.");
        CheckComputable(file, tensor);
        return new WeightMatrix(file.GetMatrix(tensor).Data, tensor.Type, 1, length, name);
    }

    /// <summary>The feed-forward's gate and up: two tensors, or one <c>ffn_up</c> of twice the rows holding the gate first (Phi-3).</summary>
    private static (WeightMatrix Gate, WeightMatrix Up) GateAndUp(GgufFile file, ModelConfig config, string prefix)
    {
        var d = config.EmbeddingLength;
        var ff = config.FeedForwardLength;
        if (file.TryGetTensor(prefix + "ffn_gate.weight", out _))
            return (Matrix(file, prefix + "ffn_gate.weight", ff, d), Matrix(file, prefix + "ffn_up.weight", ff, d));
        var fused = Matrix(file, prefix + "ffn_up.weight", 2 * ff, d);
        return (fused.RowRange(0, ff, prefix + "ffn_up.weight[gate]"), fused.RowRange(ff, ff, prefix + "ffn_up.weight[up]"));
    }

    /// <summary>The matrix products' weights (not the embedding, read a few rows per token) copied into one arena.</summary>
    private static (LayerWeights[] Layers, WeightMatrix? Head, WeightArena Arena) CopyToArena(LayerWeights[] layers, WeightMatrix? head)
    {
        long bytes = head is { } h ? WeightArena.Footprint(h) : 0;
        foreach (var l in layers)
        {
            foreach (var m in l.Matrices)
                bytes += WeightArena.Footprint(m);
        }
        var arena = new WeightArena(bytes);
        var copied = new LayerWeights[layers.Length];
        for (var i = 0; i < layers.Length; i++)
            copied[i] = layers[i].MapMatrices(m => arena.Copy(m));
        return (copied, head is { } hm ? arena.Copy(hm) : null, arena);
    }

    private static WeightMatrix Matrix(GgufFile file, string name, int rows, int cols)
    {
        var tensor = file.GetTensor(name);
        var dims = tensor.Dimensions;
        if (dims.Length != 2 || dims[0] != cols || dims[1] != rows)
            throw new GgufFormatException(file.FilePath, tensor.FileOffset,
                $"tensor '{name}' has shape {tensor.ShapeText}, expected {cols} x {rows} from the model's metadata.");
        CheckComputable(file, tensor);
        return file.GetMatrix(tensor);
    }

    private static void CheckComputable(GgufFile file, GgufTensorInfo tensor)
    {
        if (!GgmlTypeInfo.IsComputeSupported(tensor.Type))
            throw new GgufFormatException(file.FilePath, tensor.FileOffset,
                $"tensor '{tensor.Name}' has type {tensor.Type}, which tessera cannot compute yet (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS); convert the model to one of them.");
    }

    private static unsafe float[]? Vector(GgufFile file, string name, int length, bool optional = false)
    {
        if (!file.TryGetTensor(name, out var tensor))
            return optional ? null : throw new GgufFormatException(file.FilePath, $"required tensor '{name}' is missing.");
        if (tensor.ElementCount != length || tensor.Dimensions[0] != length)
            throw new GgufFormatException(file.FilePath, tensor.FileOffset, $"tensor '{name}' has shape {tensor.ShapeText}, expected {length}.");
        if (!GgmlTypeInfo.IsComputeSupported(tensor.Type))
            throw new GgufFormatException(file.FilePath, tensor.FileOffset, $"tensor '{name}' has type {tensor.Type}, which tessera cannot read.");
        var result = new float[length];
        var m = file.GetMatrix(tensor);
        ReferenceQuant.Dequantize(m.Type, new ReadOnlySpan<byte>((void*)m.Data, checked((int)m.RowBytes)), result);
        return result;
    }
}
