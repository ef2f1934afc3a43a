using Tessera.Planner;

namespace Tessera.Planner.Tests;

public sealed class ModelProfileTests
{
    private static readonly ModelShape Shape = new("m", BlockCount: 2, EmbeddingLength: 8, KvWidth: 4, VocabSize: 10);

    [Fact]
    public void FromTensors_GroupsBlocksEmbeddingHeadAndShared()
    {
        TensorSize[] tensors =
        [
            new("token_embd.weight", 80, 100),
            new("blk.0.attn_q.weight", 64, 40),
            new("blk.0.ffn_up.weight", 128, 70),
            new("blk.1.attn_q.weight", 64, 45),
            new("output_norm.weight", 8, 32),
            new("output.weight", 80, 90),
            new("rope_freqs.weight", 2, 8),
        ];

        var p = ModelProfile.FromTensors(Shape, tensors);

        Assert.Equal([110L, 45L], p.LayerWeightBytes);
        Assert.Equal([2.0 * 192, 2.0 * 64], p.LayerFlopsPerToken);
        Assert.Equal(100, p.EmbeddingBytes);
        Assert.Equal(122, p.HeadBytes);
        Assert.Equal(160, p.HeadFlopsPerToken);
        Assert.Equal(8, p.SharedBytes);
        Assert.False(p.TiedEmbedding);
        Assert.Equal(2 * 4 * 4, p.KvBytesPerTokenPerLayer);
        Assert.Equal(16, p.ActivationBytesPerToken(2));
        Assert.Equal(tensors.Sum(t => t.ByteSize), p.TotalWeightBytes);
        Assert.Equal(110 + 100 + 8, p.StageWeightBytes(new LayerSpan(0, 1)));
        Assert.Equal(45 + 122 + 8, p.StageWeightBytes(new LayerSpan(1, 2)));
        Assert.Equal(p.TotalWeightBytes, p.StageWeightBytes(new LayerSpan(0, 2)));
    }

    [Fact]
    public void FromTensors_WithoutOutputWeight_TiesTheHeadToTheEmbedding()
    {
        TensorSize[] tensors = [new("token_embd.weight", 80, 100), new("blk.0.x", 1, 1), new("blk.1.x", 1, 1), new("output_norm.weight", 8, 32)];

        var p = ModelProfile.FromTensors(Shape, tensors);

        Assert.True(p.TiedEmbedding);
        Assert.Equal(132, p.HeadBytes);
        Assert.Equal(tensors.Sum(t => t.ByteSize), p.TotalWeightBytes);
        Assert.Equal(p.TotalWeightBytes, p.StageWeightBytes(new LayerSpan(0, 2))); // one stage holds the matrix once
        Assert.Equal(1 + 132, p.StageWeightBytes(new LayerSpan(1, 2)));            // the last stage needs it as its head
    }

    [Fact]
    public void FromTensors_SplitsEachBlocksFlopsByWeightType_InTheOrderTheTypesCame()
    {
        TensorSize[] tensors =
        [
            new("blk.0.attn_q.weight", 64, 40, "Q4_K"),
            new("blk.0.ffn_down.weight", 128, 70, "Q6_K"),
            new("blk.0.ffn_up.weight", 128, 70, "Q4_K"),
            new("blk.0.attn_norm.weight", 8, 32, "F32"),
            new("blk.1.attn_q.weight", 64, 45), // no type: left out, the block's FLOPs stay whole
            new("output.weight", 80, 90, "Q6_K"),
        ];

        var p = ModelProfile.FromTensors(Shape, tensors);

        Assert.Equal([2.0 * 328, 2.0 * 64], p.LayerFlopsPerToken);
        Assert.Equal([new WeightTypeFlops("Q4_K", 2.0 * 192), new WeightTypeFlops("Q6_K", 2.0 * 128), new WeightTypeFlops("F32", 2.0 * 8)], p.LayerFlopsByType![0]);
        Assert.Empty(p.LayerFlopsByType[1]);
        p.Validate();
    }

    [Fact]
    public void FromTensors_WithoutTypes_LeavesThemUnknown()
    {
        var p = ModelProfile.FromTensors(Shape, [new TensorSize("blk.0.x", 1, 1), new TensorSize("blk.1.x", 1, 1)]);

        Assert.Null(p.LayerFlopsByType);
    }

    [Fact]
    public void Validate_TypesForTooFewBlocks_Throws()
    {
        var p = ModelProfile.Uniform("u", 4, 10, weightType: "Q4_0");

        p.Validate();
        Assert.Throws<ArgumentException>(() => (p with { LayerFlopsByType = [[new WeightTypeFlops("Q4_0", 20)]] }).Validate());
    }

    [Fact]
    public void FromTensors_BlockBeyondTheCount_Throws()
    {
        Assert.Throws<ArgumentException>(() => ModelProfile.FromTensors(Shape, [new TensorSize("blk.2.x", 1, 1)]));
    }

    [Fact]
    public void With_NewLayerSizes_RecomputesTotals()
    {
        var p = ModelProfile.Uniform("u", 4, 10);
        var q = p with { LayerWeightBytes = [1, 2, 3, 4], LayerFlopsPerToken = [0, 0, 0, 0] };

        Assert.Equal(40, p.TotalWeightBytes);
        Assert.Equal(10, q.TotalWeightBytes);
    }
}
