using System.Globalization;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;

namespace Tessera.Distribution;

/// <summary>
/// Cuts from a GGUF model the part one pipeline stage needs: all metadata, the blocks of its layer range, the token
/// embedding for the first stage, the output norm and head (the embedding when tied) for the last, and every
/// global tensor that is neither (rope_freqs). The slice is a valid GGUF whose block count stays the model's, so a
/// <see cref="TransformerStage"/> loads it with the same <see cref="LayerRange"/>; tensor bytes are copied
/// unchanged. Keys <c>tessera.slice.*</c> record the source's SHA-256 and the range. The output is a function of
/// (source, range, embedding, head) only, so its hash can be cached under <see cref="SliceKey"/> and served.
/// </summary>
public static class GgufSlicer
{
    public const string KeyPrefix = "tessera.slice.";
    public const string SourceKey = KeyPrefix + "source_sha256";
    public const string FirstKey = KeyPrefix + "first";
    public const string LastKey = KeyPrefix + "last";
    public const string EmbeddingKey = KeyPrefix + "embedding";
    public const string HeadKey = KeyPrefix + "head";

    /// <summary>The model's block count from <c>{arch}.block_count</c> (<see cref="ModelConfig.ReadBlockCount"/>: range-checked).</summary>
    public static int BlockCount(GgufFile source) => ModelConfig.ReadBlockCount(source.Metadata, source.Architecture);

    /// <summary>The tensors a stage running <paramref name="range"/> needs, in the source's order.</summary>
    public static IReadOnlyList<GgufTensorInfo> SelectTensors(GgufFile source, LayerRange range, bool includeEmbedding, bool includeHead)
    {
        ArgumentNullException.ThrowIfNull(source);
        var blocks = BlockCount(source);
        if (range.Last > blocks)
            throw new ArgumentOutOfRangeException(nameof(range), $"Layer range {range} exceeds the model's {blocks} blocks.");
        var tiedHead = includeHead && !source.TryGetTensor("output.weight", out _);
        var selected = new List<GgufTensorInfo>();
        foreach (var t in source.Tensors)
        {
            var keep = Classify(t.Name, out var layer) switch
            {
                TensorRole.Block => range.Contains(layer),
                TensorRole.Embedding => includeEmbedding || (tiedHead && t.Name == "token_embd.weight"),
                TensorRole.Head => includeHead,
                _ => true,
            };
            if (keep)
                selected.Add(t);
        }
        return selected;
    }

    /// <summary>Writes the slice for a stage whose range decides embedding (first block) and head (last block).</summary>
    public static void WriteSlice(GgufFile source, LayerRange range, string outputPath, ContentHash? sourceHash = null)
    {
        var blocks = BlockCount(source);
        WriteSlice(source, range, range.First == 0, range.Last == blocks, outputPath, sourceHash);
    }

    /// <summary>
    /// Writes the slice to <paramref name="outputPath"/> (atomically, through a temporary file).
    /// <paramref name="sourceHash"/> is the source file's SHA-256; computed from the file when not given.
    /// </summary>
    public static void WriteSlice(GgufFile source, LayerRange range, bool includeEmbedding, bool includeHead, string outputPath,
        ContentHash? sourceHash = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        var tensors = SelectTensors(source, range, includeEmbedding, includeHead);
        var hash = sourceHash ?? ContentHash.OfFile(source.FilePath);

        var writer = new GgufWriter(source.Alignment);
        foreach (var key in source.Metadata.Keys)
        {
            if (key == "general.alignment" || key.StartsWith(KeyPrefix, StringComparison.Ordinal))
                continue;
            writer.Add(key, source.Metadata[key]);
        }
        writer.Add(SourceKey, hash.Hex);
        writer.Add(FirstKey, (uint)range.First);
        writer.Add(LastKey, (uint)range.Last);
        writer.Add(EmbeddingKey, includeEmbedding);
        writer.Add(HeadKey, includeHead);
        foreach (var t in tensors)
        {
            var tensor = t;
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Dimensions, stream => CopyTensor(source, tensor, stream));
        }
        writer.WriteFile(outputPath);
    }

    /// <summary>The name under which a <see cref="ContentStore"/> records a slice's hash.</summary>
    public static string SliceKey(ContentHash sourceHash, LayerRange range, bool includeEmbedding, bool includeHead) =>
        string.Create(CultureInfo.InvariantCulture,
            $"slice:{sourceHash.Hex}:{range.First}-{range.Last}:{(includeEmbedding ? "embd" : "-")}:{(includeHead ? "head" : "-")}");

    /// <summary>
    /// The hash of a slice of a blob the store holds, writing and publishing the slice on first use and reusing it
    /// (through <see cref="SliceKey"/>) afterwards. <paramref name="openSource"/>, when given, is that blob already open
    /// (a deployment cutting all its stages opens the model once).
    /// </summary>
    public static async Task<ContentHash> GetOrCreateAsync(ContentStore store, ContentHash sourceHash, LayerRange range, bool includeEmbedding,
        bool includeHead, CancellationToken cancellationToken = default, GgufFile? openSource = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = SliceKey(sourceHash, range, includeEmbedding, includeHead);
        if (store.TryGetRef(key, out var known) && store.Contains(known))
            return known;
        if (!store.TryGet(sourceHash, out var sourcePath))
            throw new FileNotFoundException($"The cache at {store.Root} holds no model sha256:{sourceHash} to slice.");
        using (store.Pin(sourceHash))
        using (await store.LockAsync(key, cancellationToken).ConfigureAwait(false))
        {
            if (store.TryGetRef(key, out known) && store.Contains(known))
                return known;
            var partial = store.GetPartialPath(key) + ".slice";
            if (openSource is not null)
            {
                WriteSlice(openSource, range, includeEmbedding, includeHead, partial, sourceHash);
            }
            else
            {
                using var source = GgufFile.Open(sourcePath);
                WriteSlice(source, range, includeEmbedding, includeHead, partial, sourceHash);
            }
            var hash = await store.PublishAsync(partial, null, key, cancellationToken).ConfigureAwait(false);
            store.SetRef(key, hash);
            return hash;
        }
    }

    private static unsafe void CopyTensor(GgufFile source, GgufTensorInfo tensor, Stream target)
    {
        using var data = new UnmanagedMemoryStream((byte*)source.GetDataPointer(tensor), tensor.ByteSize);
        data.CopyTo(target, 1 << 20);
    }

    private enum TensorRole
    {
        Block,
        Embedding,
        Head,
        Global,
    }

    private static TensorRole Classify(string name, out int layer)
    {
        layer = -1;
        if (name.StartsWith("blk.", StringComparison.Ordinal))
        {
            var end = name.IndexOf('.', 4);
            if (end > 4 && int.TryParse(name.AsSpan(4, end - 4), NumberStyles.None, CultureInfo.InvariantCulture, out layer))
                return TensorRole.Block;
            layer = -1;
            return TensorRole.Global;
        }
        if (name.StartsWith("token_embd", StringComparison.Ordinal))
            return TensorRole.Embedding;
        if (name.StartsWith("output", StringComparison.Ordinal))
            return TensorRole.Head;
        return TensorRole.Global;
    }
}
