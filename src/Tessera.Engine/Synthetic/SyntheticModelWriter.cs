using Tessera.Engine.Gguf;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Synthetic;

/// <summary>
/// Writes a random-weight Llama model of a real shape in a chosen tensor type: what benchmarks run on when
/// nothing can be downloaded. Weights are deterministic for a seed (each row from its own generator), small
/// uniform values so activations stay finite; norms are ones.
/// </summary>
public static class SyntheticModelWriter
{
    /// <summary>Types a synthetic model can be written in (every matrix in one type; see <see cref="QuantizationMix"/> for mixtures).</summary>
    public static IReadOnlyList<GgmlType> SupportedTypes { get; } =
        [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL,
         GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS];

    /// <param name="progress">Called with (bytes written, total bytes) as tensors are produced.</param>
    public static void Write(string path, ModelShape shape, GgmlType type, string? vocabGgufPath = null, ulong seed = 42,
        Action<long, long>? progress = null)
    {
        if (!SupportedTypes.Contains(type))
            throw new ArgumentException($"Synthetic models can be written as {string.Join(", ", SupportedTypes)}, not {type}.");
        Write(path, shape, QuantizationMix.Pure(type), vocabGgufPath, seed, progress);
    }

    /// <summary>A model whose matrices take the types <paramref name="mix"/> chooses for them (norms and the router stay F32).</summary>
    /// <param name="progress">Called with (bytes written, total bytes) as tensors are produced.</param>
    public static void Write(string path, ModelShape shape, QuantizationMix mix, string? vocabGgufPath = null, ulong seed = 42,
        Action<long, long>? progress = null)
    {
        var writer = new GgufWriter();
        AddLlamaHyperParameters(writer, shape, $"synthetic-{shape.Name}-{mix.Name.ToLowerInvariant()}", rmsNormEpsilon: 1e-5f);
        var vocab = SyntheticVocabulary.AddTo(writer, shape.VocabSize, vocabGgufPath);

        var d = shape.EmbeddingLength;
        var kv = shape.HeadCountKv * shape.HeadDim;
        var ff = shape.FeedForwardLength;
        // The row length must be a whole number of blocks; K-quants need 256, so small shapes fall back per tensor.
        GgmlType TypeFor(TensorRole role, int layer, int cols) => mix.TypeFor(role, layer, cols, shape);

        // A stacked expert tensor is written as its experts' rows one after the other: dims {cols, rows, experts}.
        var tensors = new List<(string Name, GgmlType Type, int Rows, int Cols, bool Ones, int Experts)>
        {
            ("token_embd.weight", TypeFor(TensorRole.TokenEmbedding, 0, d), vocab, d, false, 0),
            ("output_norm.weight", GgmlType.F32, 1, d, true, 0),
            ("output.weight", TypeFor(TensorRole.Output, 0, d), vocab, d, false, 0),
        };
        for (var l = 0; l < shape.BlockCount; l++)
        {
            var p = $"blk.{l}.";
            tensors.Add((p + "attn_norm.weight", GgmlType.F32, 1, d, true, 0));
            tensors.Add((p + "attn_q.weight", TypeFor(TensorRole.AttentionQ, l, d), d, d, false, 0));
            tensors.Add((p + "attn_k.weight", TypeFor(TensorRole.AttentionK, l, d), kv, d, false, 0));
            tensors.Add((p + "attn_v.weight", TypeFor(TensorRole.AttentionV, l, d), kv, d, false, 0));
            tensors.Add((p + "attn_output.weight", TypeFor(TensorRole.AttentionOutput, l, d), d, d, false, 0));
            tensors.Add((p + "ffn_norm.weight", GgmlType.F32, 1, d, true, 0));
            if (shape.ExpertCount > 0)
            {
                var e = shape.ExpertCount;
                tensors.Add((p + "ffn_gate_inp.weight", GgmlType.F32, e, d, false, 0));
                tensors.Add((p + "ffn_gate_exps.weight", TypeFor(TensorRole.FeedForwardGate, l, d), e * ff, d, false, e));
                tensors.Add((p + "ffn_up_exps.weight", TypeFor(TensorRole.FeedForwardUp, l, d), e * ff, d, false, e));
                tensors.Add((p + "ffn_down_exps.weight", TypeFor(TensorRole.FeedForwardDown, l, ff), e * d, ff, false, e));
                continue;
            }
            tensors.Add((p + "ffn_gate.weight", TypeFor(TensorRole.FeedForwardGate, l, d), ff, d, false, 0));
            tensors.Add((p + "ffn_up.weight", TypeFor(TensorRole.FeedForwardUp, l, d), ff, d, false, 0));
            tensors.Add((p + "ffn_down.weight", TypeFor(TensorRole.FeedForwardDown, l, ff), d, ff, false, 0));
        }

        long total = tensors.Sum(t => GgmlTypeInfo.RowBytes(t.Type, t.Cols) * t.Rows);
        long done = 0;
        var index = 0;
        foreach (var t in tensors)
        {
            var tensorSeed = seed * 1_000_003UL + (ulong)index++;
            long[] dims = t.Experts > 0 ? [t.Cols, t.Rows / t.Experts, t.Experts] : t.Rows == 1 ? [t.Cols] : [t.Cols, t.Rows];
            writer.AddTensor(t.Name, t.Type, dims, stream =>
            {
                WriteRows(stream, t.Type, t.Rows, t.Cols, t.Ones, tensorSeed, bytes =>
                {
                    done += bytes;
                    progress?.Invoke(done, total);
                });
            });
        }
        writer.WriteFile(path);
    }

    /// <summary>
    /// Adds <c>general.architecture</c> = llama, <c>general.name</c> and the <c>llama.*</c> hyper-parameters the engine
    /// reads for a dense or mixture-of-experts <paramref name="shape"/> (RoPE over whole heads): for any writer of llama
    /// files, synthetic or trained.
    /// </summary>
    public static GgufWriter AddLlamaHyperParameters(GgufWriter writer, ModelShape shape, string name, float rmsNormEpsilon)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(shape);
        writer.Add("general.architecture", "llama")
            .Add("general.name", name)
            .Add("llama.context_length", (uint)shape.ContextLength)
            .Add("llama.embedding_length", (uint)shape.EmbeddingLength)
            .Add("llama.block_count", (uint)shape.BlockCount)
            .Add("llama.feed_forward_length", (uint)shape.FeedForwardLength)
            .Add("llama.attention.head_count", (uint)shape.HeadCount)
            .Add("llama.attention.head_count_kv", (uint)shape.HeadCountKv)
            .Add("llama.rope.dimension_count", (uint)shape.HeadDim)
            .Add("llama.attention.layer_norm_rms_epsilon", rmsNormEpsilon)
            .Add("llama.rope.freq_base", shape.RopeFreqBase);
        if (shape.ExpertCount > 0)
            writer.Add("llama.expert_count", (uint)shape.ExpertCount).Add("llama.expert_used_count", (uint)shape.ExpertUsedCount);
        return writer;
    }

    private static void WriteRows(Stream stream, GgmlType type, int rows, int cols, bool ones, ulong seed, Action<long> written)
    {
        var rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        const int chunkRows = 64;
        var buffer = new byte[rowBytes * chunkRows];
        var scale = 1f / MathF.Sqrt(cols);
        for (var start = 0; start < rows; start += chunkRows)
        {
            var count = Math.Min(chunkRows, rows - start);
            Parallel.For(0, count, () => new float[cols], (r, _, values) =>
            {
                if (ones)
                {
                    values.AsSpan().Fill(1f);
                }
                else
                {
                    var state = seed ^ ((ulong)(start + r) * 0x9E3779B97F4A7C15UL) | 1;
                    for (var i = 0; i < values.Length; i++)
                    {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        values[i] = ((state >> 40) * (1f / (1 << 24)) * 2f - 1f) * scale;
                    }
                }
                ReferenceQuant.Quantize(type, values, buffer.AsSpan(r * rowBytes, rowBytes));
                return values;
            }, _ => { });
            stream.Write(buffer, 0, count * rowBytes);
            written((long)count * rowBytes);
        }
    }
}
