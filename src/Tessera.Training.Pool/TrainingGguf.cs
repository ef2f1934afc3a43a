using System.Runtime.InteropServices;
using Tessera.Engine.Gguf;
using Tessera.Engine.Kernels;
using Tessera.Engine.Model;
using Tessera.Engine.Synthetic;
using Tessera.Engine.Tensors;

namespace Tessera.Training.Pool;

/// <summary>The tensor type of an exported model's matrices (norm weights are always F32, as llama.cpp keeps them).</summary>
public enum TrainingExportType
{
    /// <summary>Every value as trained.</summary>
    F32,

    /// <summary>Matrices rounded to f16: half the size; the engine then also reads activations as f16 for them.</summary>
    F16,
}

/// <summary>
/// Moves a <see cref="LlamaModel"/>'s flat parameters to and from a <c>llama</c> GGUF, tensor names and shapes as
/// llama.cpp writes them, so a trained model runs in <c>generate</c>, <c>serve</c> and deployments, and training can
/// start from a published model. Both use llama.cpp's NORM RoPE (adjacent pairs) for <c>llama</c>, so Q and K are stored
/// as trained, without the permutation Hugging Face checkpoints need.
/// </summary>
public static class TrainingGguf
{
    /// <summary>
    /// Writes <paramref name="parameters"/> (laid out as <see cref="ParameterOffsets"/> for <paramref name="config"/>) as a
    /// llama GGUF at <paramref name="outputPath"/>, through a temporary file renamed when complete. Every <c>tokenizer.*</c>
    /// key is copied from <paramref name="vocabularyGgufPath"/>, whose token count must be <see cref="LlamaConfig.Vocab"/>.
    /// </summary>
    /// <param name="contextLength">The <c>llama.context_length</c> to declare: the longest context the engine will allow.</param>
    /// <exception cref="ArgumentException">The parameter count or the vocabulary's size does not fit the config.</exception>
    /// <exception cref="GgufFormatException">The vocabulary file cannot be read or has no tokenizer.</exception>
    public static void Export(LlamaConfig config, ReadOnlySpan<float> parameters, string vocabularyGgufPath, string outputPath, string modelName,
        TrainingExportType type = TrainingExportType.F32, int contextLength = 2048)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(vocabularyGgufPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        ArgumentException.ThrowIfNullOrEmpty(modelName);
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 1);
        var offsets = new ParameterOffsets(config);
        if (parameters.Length != offsets.Count)
            throw new ArgumentException($"The config needs {offsets.Count} parameters; {parameters.Length} were given.", nameof(parameters));
        var matrixType = type switch
        {
            TrainingExportType.F32 => GgmlType.F32,
            TrainingExportType.F16 => GgmlType.F16,
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Export writes F32 or F16."),
        };

        var shape = new ModelShape(modelName, config.Dim, config.Layers, config.Heads, config.KvHeads, config.HiddenDim, config.Vocab, contextLength, config.RopeBase);
        var writer = SyntheticModelWriter.AddLlamaHyperParameters(new GgufWriter(), shape, modelName, config.NormEpsilon)
            .Add("general.file_type", type == TrainingExportType.F32 ? 0u : 1u) // llama.cpp's LLAMA_FTYPE_ALL_F32 / MOSTLY_F16
            .Add("llama.vocab_size", (uint)config.Vocab);
        var vocab = SyntheticVocabulary.AddTo(writer, config.Vocab, vocabularyGgufPath);
        if (vocab != config.Vocab)
            throw new ArgumentException(
                $"The vocabulary {vocabularyGgufPath} has {vocab} tokens but the model's config has {config.Vocab}; export with the vocabulary the model was trained on.",
                nameof(vocabularyGgufPath));

        var values = parameters.ToArray(); // the writer streams tensors from callbacks, after this method's span is gone
        foreach (var t in Layout(config, offsets))
        {
            var tensorType = t.Rows == 1 ? GgmlType.F32 : matrixType;
            var (offset, count) = (t.Offset, t.Rows * t.Cols);
            writer.AddTensor(t.Name, tensorType, t.Dimensions, stream =>
            {
                var source = values.AsSpan(offset, count);
                if (tensorType == GgmlType.F32)
                {
                    stream.Write(MemoryMarshal.AsBytes(source));
                    return;
                }
                var bytes = new byte[count * 2];
                ReferenceQuant.Quantize(GgmlType.F16, source, bytes);
                stream.Write(bytes);
            });
        }
        writer.WriteFile(outputPath);
    }

    /// <summary>
    /// Reads a llama GGUF in any tensor type the engine can dequantize into a config and the flat parameters of
    /// <see cref="ParameterOffsets"/>. A model without <c>output.weight</c> (tied embeddings) gets a copy of
    /// <c>token_embd.weight</c> as its output head, which then trains apart from it.
    /// </summary>
    /// <exception cref="GgufFormatException">The file is not a llama model a <see cref="LlamaModel"/> can hold: another
    /// architecture, a shape or feature training does not have, a missing or misshapen tensor, or a tensor type that cannot
    /// be dequantized; the message names what.</exception>
    public static (LlamaConfig Config, float[] Parameters) Import(string ggufPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(ggufPath);
        using var file = GgufFile.Open(ggufPath);
        var arch = file.Metadata.TryGetString("general.architecture");
        if (arch != "llama")
            throw new GgufFormatException(file.FilePath,
                $"architecture '{arch ?? "(none)"}' cannot be imported for training: only 'llama' models (dense, SwiGLU, RMSNorm, normal RoPE) can.");
        var m = ModelConfig.FromGguf(file);
        Refuse(file, m.IsMixtureOfExperts, $"it is a mixture of experts (llama.expert_count = {m.ExpertCount}); training has dense blocks only");
        Refuse(file, m.HeadDim * m.HeadCount != m.EmbeddingLength,
            $"its heads are {m.HeadDim} wide, not llama.embedding_length / llama.attention.head_count ({m.EmbeddingLength} / {m.HeadCount})");
        Refuse(file, m.RopeDimensions != m.HeadDim, $"RoPE rotates {m.RopeDimensions} of each head's {m.HeadDim} dimensions; training rotates all of them");
        Refuse(file, m.RopeFreqScale != 1f, $"it scales RoPE positions by {m.RopeFreqScale}; training does not scale them");
        Refuse(file, m.HeadDim % 2 != 0, $"its heads are {m.HeadDim} wide, and RoPE needs an even width");

        var config = new LlamaConfig(m.VocabSize, m.EmbeddingLength, m.BlockCount, m.HeadCount, m.HeadCountKv, m.FeedForwardLength, m.RopeFreqBase, m.RmsNormEps);
        var offsets = new ParameterOffsets(config);
        var layout = Layout(config, offsets);
        var known = layout.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var extra = file.Tensors.FirstOrDefault(t => !known.Contains(t.Name));
        if (extra != null)
            throw new GgufFormatException(file.FilePath,
                $"tensor '{extra.Name}' ({extra.ShapeText}) is not one of a dense llama's (token_embd, blk.N.attn_norm/q/k/v/output, blk.N.ffn_norm/gate/up/down, output_norm, output): training has no place for it.");

        var parameters = new float[offsets.Count];
        foreach (var t in layout)
        {
            var target = parameters.AsSpan(t.Offset, t.Rows * t.Cols);
            if (!file.TryGetTensor(t.Name, out var tensor))
            {
                if (t.Name != "output.weight")
                    throw new GgufFormatException(file.FilePath, $"required tensor '{t.Name}' is missing.");
                parameters.AsSpan(offsets.TokenEmbedding, t.Rows * t.Cols).CopyTo(target); // tied: token_embd is read first
                continue;
            }
            if (!tensor.Dimensions.SequenceEqual(t.Dimensions))
                throw new GgufFormatException(file.FilePath, tensor.FileOffset,
                    $"tensor '{t.Name}' has shape {tensor.ShapeText}; the model's metadata needs {string.Join(" x ", t.Dimensions)}.");
            if (!ReferenceQuant.IsSupported(tensor.Type))
                throw new GgufFormatException(file.FilePath, tensor.FileOffset,
                    $"tensor '{t.Name}' has type {tensor.Type}, which cannot be dequantized for training.");
            ReferenceQuant.Dequantize(tensor.Type, file.GetData(tensor), target);
        }
        return (config, parameters);
    }

    private static void Refuse(GgufFile file, bool condition, string why)
    {
        if (condition)
            throw new GgufFormatException(file.FilePath, $"this llama model cannot be imported for training: {why}.");
    }

    /// <summary>One tensor: its GGUF name, where it starts in the flat vector, its rows and columns, and its GGUF dims
    /// (innermost first: {cols} for a vector, {cols, rows} for a matrix).</summary>
    private sealed record TensorPlace(string Name, int Offset, int Rows, int Cols)
    {
        public long[] Dimensions => Rows == 1 ? [Cols] : [Cols, Rows];
    }

    /// <summary>Every tensor of a model in file order: llama.cpp's names, <see cref="ParameterOffsets"/>' places.</summary>
    private static List<TensorPlace> Layout(LlamaConfig c, ParameterOffsets o)
    {
        int q = c.Heads * c.HeadDim, kv = c.KvHeads * c.HeadDim;
        var list = new List<TensorPlace> { new("token_embd.weight", o.TokenEmbedding, c.Vocab, c.Dim) };
        for (var l = 0; l < c.Layers; l++)
        {
            var b = o.Blocks[l];
            var p = $"blk.{l}.";
            list.Add(new(p + "attn_norm.weight", b.AttentionNorm, 1, c.Dim));
            list.Add(new(p + "attn_q.weight", b.Wq, q, c.Dim));
            list.Add(new(p + "attn_k.weight", b.Wk, kv, c.Dim));
            list.Add(new(p + "attn_v.weight", b.Wv, kv, c.Dim));
            list.Add(new(p + "attn_output.weight", b.Wo, c.Dim, q));
            list.Add(new(p + "ffn_norm.weight", b.FeedForwardNorm, 1, c.Dim));
            list.Add(new(p + "ffn_gate.weight", b.WGate, c.HiddenDim, c.Dim));
            list.Add(new(p + "ffn_up.weight", b.WUp, c.HiddenDim, c.Dim));
            list.Add(new(p + "ffn_down.weight", b.WDown, c.Dim, c.HiddenDim));
        }
        list.Add(new("output_norm.weight", o.FinalNorm, 1, c.Dim));
        list.Add(new("output.weight", o.Output, c.Vocab, c.Dim));
        return list;
    }
}
