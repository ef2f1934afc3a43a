using Tessera.Distribution;
using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Testing;

namespace Tessera.Distribution.Tests;

public sealed class GgufSlicerTests : IDisposable
{
    private static readonly string Source = TestPaths.Model("tiny-a-q8_0.gguf");
    private static readonly Lazy<ContentHash> SourceHash = new(() => ContentHash.OfFile(Source));

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void SlicesOfTwoStages_HoldTheirTensorsByteForByteAndAllMetadata()
    {
        // Arrange
        using var source = GgufFile.Open(Source);
        var blocks = GgufSlicer.BlockCount(source);
        Assert.Equal(4, blocks);
        var firstPath = _dir.Combine("first.gguf");
        var lastPath = _dir.Combine("last.gguf");

        // Act
        GgufSlicer.WriteSlice(source, new LayerRange(0, 2), includeEmbedding: true, includeHead: false, firstPath, SourceHash.Value);
        GgufSlicer.WriteSlice(source, new LayerRange(2, 4), includeEmbedding: false, includeHead: true, lastPath, SourceHash.Value);

        // Assert
        using var first = GgufFile.Open(firstPath);
        using var last = GgufFile.Open(lastPath);
        var tied = !source.TryGetTensor("output.weight", out _);
        var firstNames = first.Tensors.Select(t => t.Name).ToHashSet();
        var lastNames = last.Tensors.Select(t => t.Name).ToHashSet();
        Assert.Contains("token_embd.weight", firstNames);
        Assert.Contains("blk.0.attn_q.weight", firstNames);
        Assert.Contains("blk.1.ffn_down.weight", firstNames);
        Assert.DoesNotContain(firstNames, n => n.StartsWith("blk.2.") || n.StartsWith("blk.3.") || n.StartsWith("output"));
        Assert.Contains("output_norm.weight", lastNames);
        Assert.Contains(tied ? "token_embd.weight" : "output.weight", lastNames);
        Assert.Contains("blk.3.attn_k.weight", lastNames);
        Assert.DoesNotContain(lastNames, n => n.StartsWith("blk.0.") || n.StartsWith("blk.1."));
        Assert.Equal(source.Tensors.Select(t => t.Name).ToHashSet(), firstNames.Union(lastNames).ToHashSet());

        foreach (var slice in new[] { first, last })
        {
            foreach (var t in slice.Tensors)
            {
                var original = source.GetTensor(t.Name);
                Assert.Equal(original.Type, t.Type);
                Assert.Equal(original.Dimensions, t.Dimensions);
                Assert.True(original.ByteSize == t.ByteSize && source.GetData(original).SequenceEqual(slice.GetData(t)), $"tensor {t.Name} differs");
            }
            foreach (var key in source.Metadata.Keys)
                Assert.Equal(source.Metadata.GetValueType(key), slice.Metadata.GetValueType(key));
            foreach (var key in source.Metadata.Keys)
                Assert.Equal(GgufMetadata.Describe(source.Metadata[key], 1_000_000), GgufMetadata.Describe(slice.Metadata[key], 1_000_000));
            Assert.Equal(SourceHash.Value.Hex, slice.Metadata.GetString(GgufSlicer.SourceKey));
            Assert.Equal(source.Alignment, slice.Alignment);
        }
        Assert.Equal(0, first.Metadata.GetInteger(GgufSlicer.FirstKey));
        Assert.Equal(2, first.Metadata.GetInteger(GgufSlicer.LastKey));
        Assert.Equal(2, last.Metadata.GetInteger(GgufSlicer.FirstKey));
        Assert.Equal(4, last.Metadata.GetInteger(GgufSlicer.LastKey));
        Assert.True(first.Metadata.GetBool(GgufSlicer.EmbeddingKey));
        Assert.True(last.Metadata.GetBool(GgufSlicer.HeadKey));
    }

    [Fact]
    public void MiddleStage_GetsOnlyItsBlocks()
    {
        using var source = GgufFile.Open(Source);
        var path = _dir.Combine("middle.gguf");

        GgufSlicer.WriteSlice(source, new LayerRange(1, 3), path, SourceHash.Value);

        using var slice = GgufFile.Open(path);
        Assert.All(slice.Tensors, t => Assert.True(t.Name.StartsWith("blk.1.") || t.Name.StartsWith("blk.2.") || t.Name.StartsWith("rope_freqs"), t.Name));
        var blockBytes = source.Tensors.Where(t => t.Name.StartsWith("blk.")).Sum(t => t.ByteSize);
        Assert.Equal(blockBytes / 2, slice.Tensors.Sum(t => t.ByteSize));
        Assert.True(slice.FileLength < source.FileLength * 0.75);
    }

    [Fact]
    public async Task Slice_IsDeterministic()
    {
        using var source = GgufFile.Open(Source);
        GgufSlicer.WriteSlice(source, new LayerRange(2, 4), _dir.Combine("a.gguf"), SourceHash.Value);
        GgufSlicer.WriteSlice(source, new LayerRange(2, 4), _dir.Combine("b.gguf"), SourceHash.Value);

        Assert.Equal(await ContentHash.OfFileAsync(_dir.Combine("a.gguf")), await ContentHash.OfFileAsync(_dir.Combine("b.gguf")));
    }

    [Fact]
    public void StagesLoadedFromSlices_ComputeExactlyWhatTheyComputeFromTheWholeFile()
    {
        // Arrange
        using var source = GgufFile.Open(Source);
        GgufSlicer.WriteSlice(source, new LayerRange(0, 2), _dir.Combine("s0.gguf"), SourceHash.Value);
        GgufSlicer.WriteSlice(source, new LayerRange(2, 4), _dir.Combine("s1.gguf"), SourceHash.Value);
        using var slice0 = GgufFile.Open(_dir.Combine("s0.gguf"));
        using var slice1 = GgufFile.Open(_dir.Combine("s1.gguf"));
        using var backend = new CpuBackend(2);
        int[] tokens = [1, 15, 27, 99, 3];

        // Act
        var fromSource = RunPipeline(new TransformerStage(source, new LayerRange(0, 2), backend), new TransformerStage(source, new LayerRange(2, 4), backend), tokens);
        var fromSlices = RunPipeline(new TransformerStage(slice0, new LayerRange(0, 2), backend), new TransformerStage(slice1, new LayerRange(2, 4), backend), tokens);

        // Assert
        Assert.Equal(fromSource, fromSlices);
    }

    [Fact]
    public async Task GetOrCreate_PublishesTheSliceOnceAndReusesIt()
    {
        var store = new ContentStore(_dir.Combine("cache"));
        var sourceHash = await store.ImportAsync(Source);

        var first = await GgufSlicer.GetOrCreateAsync(store, sourceHash, new LayerRange(0, 2), true, false);
        var written = File.GetLastWriteTimeUtc(store.GetBlobPath(first));
        var second = await GgufSlicer.GetOrCreateAsync(store, sourceHash, new LayerRange(0, 2), true, false);

        Assert.Equal(first, second);
        Assert.Equal(written, File.GetLastWriteTimeUtc(store.GetBlobPath(second)));
        Assert.True(store.TryGetRef(GgufSlicer.SliceKey(sourceHash, new LayerRange(0, 2), true, false), out var recorded));
        Assert.Equal(first, recorded);
        using var slice = GgufFile.Open(store.GetBlobPath(first));
        Assert.Equal(sourceHash.Hex, slice.Metadata.GetString(GgufSlicer.SourceKey));
    }

    [Fact]
    public void RangePastTheLastBlock_IsRefused()
    {
        using var source = GgufFile.Open(Source);

        Assert.Throws<ArgumentOutOfRangeException>(() => GgufSlicer.WriteSlice(source, new LayerRange(2, 5), _dir.Combine("x.gguf"), SourceHash.Value));
    }

    private static float[] RunPipeline(TransformerStage first, TransformerStage last, int[] tokens)
    {
        var c0 = first.CreateCache(64);
        var c1 = last.CreateCache(64);
        var hidden = new float[first.OutputLength([new BatchSequence(c0, tokens.Length)])];
        first.Forward([new BatchSequence(c0, tokens.Length)], tokens, default, hidden);
        var logits = new float[last.OutputLength([new BatchSequence(c1, tokens.Length)], LogitsMode.All)];
        last.Forward([new BatchSequence(c1, tokens.Length)], default, hidden, logits, LogitsMode.All);
        return logits;
    }
}
