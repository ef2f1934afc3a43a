using Tessera.Engine.Gguf;
using Tessera.Engine.Model;

namespace Tessera.Planner;

/// <summary>Builds a <see cref="ModelProfile"/> from an open GGUF file: <c>ModelProfile.FromGguf(file)</c>.</summary>
public static class ModelProfileGguf
{
    extension(ModelProfile)
    {
        /// <summary>
        /// Profiles the model in <paramref name="file"/>: per-layer bytes, FLOPs and weight types from its tensor table, KV width and
        /// hidden size from its metadata (through <see cref="ModelConfig.FromGguf"/>, so unsupported architectures are
        /// refused the same way the engine refuses them). The engine caches keys and values as f32.
        /// </summary>
        public static ModelProfile FromGguf(GgufFile file, string? name = null) => FromGguf(file, ModelConfig.FromGguf(file), name);

        /// <summary>Profiles the model in <paramref name="file"/> whose configuration was read already.</summary>
        public static ModelProfile FromGguf(GgufFile file, ModelConfig config, string? name = null)
        {
            ArgumentNullException.ThrowIfNull(file);
            ArgumentNullException.ThrowIfNull(config);
            var shape = new ModelShape(
                name ?? file.Metadata.TryGetString("general.name") ?? Path.GetFileNameWithoutExtension(file.FilePath),
                config.BlockCount,
                config.EmbeddingLength,
                config.KvWidth,
                config.VocabSize,
                KvBytesPerElement: sizeof(float),
                ExpertCount: config.ExpertCount,
                ExpertsUsed: config.ExpertUsedCount);
            // Each tensor's type as ggml names it (GgmlType's names are ggml's), for the CPU's prefill FLOP/s per type.
            return ModelProfile.FromTensors(shape, file.Tensors.Select(t => new TensorSize(t.Name, t.ElementCount, t.ByteSize, t.Type.ToString())));
        }
    }
}
