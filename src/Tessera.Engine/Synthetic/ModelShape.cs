namespace Tessera.Engine.Synthetic;

/// <summary>
/// The dimensions of a real model family, for random-weight models of the same shape. With <see cref="ExpertCount"/>,
/// a Mixtral-style mixture of experts: each block's feed-forward is that many experts of <see cref="FeedForwardLength"/>,
/// <see cref="ExpertUsedCount"/> of them per token.
/// </summary>
public sealed record ModelShape(
    string Name,
    int EmbeddingLength,
    int BlockCount,
    int HeadCount,
    int HeadCountKv,
    int FeedForwardLength,
    int VocabSize,
    int ContextLength,
    float RopeFreqBase = 10000f,
    int ExpertCount = 0,
    int ExpertUsedCount = 0)
{
    public static ModelShape TinyLlama { get; } = new("tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048);

    public static ModelShape Llama7B { get; } = new("llama-7b", 4096, 32, 32, 32, 11008, 32000, 4096);

    /// <summary>A small model for quick runs and tests (same layout as tiny-a in the test data).</summary>
    public static ModelShape Tiny { get; } = new("tiny", 256, 4, 8, 4, 768, 32000, 4096);

    /// <summary>
    /// TinyLlama's attention with a mixture of 8 experts of a quarter of its feed-forward width, 2 used per token: a
    /// mixture-of-experts model whose files are a few GB at most, for benchmarks beside the dense shapes.
    /// </summary>
    public static ModelShape TinyLlamaMoe { get; } = new("tinyllama-moe-8x2", 2048, 22, 32, 4, 1408, 32000, 2048, ExpertCount: 8, ExpertUsedCount: 2);

    /// <summary>The small model's attention with 4 experts of its feed-forward width, 2 used per token: for quick runs and tests.</summary>
    public static ModelShape TinyMoe { get; } = new("tiny-moe-4x2", 256, 4, 8, 4, 768, 32000, 4096, ExpertCount: 4, ExpertUsedCount: 2);

    public static IReadOnlyList<ModelShape> All { get; } = [Tiny, TinyMoe, TinyLlama, TinyLlamaMoe, Llama7B];

    public int HeadDim => EmbeddingLength / HeadCount;

    public static ModelShape Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown model shape '{name}'; known shapes: {string.Join(", ", All.Select(s => s.Name))}.");

    /// <summary>Parameters in the blocks, embedding and head (untied).</summary>
    public long ParameterCount
    {
        get
        {
            long d = EmbeddingLength, kv = HeadCountKv * HeadDim, ff = FeedForwardLength;
            var experts = Math.Max(1, ExpertCount);
            var perLayer = d * d * 2 + d * kv * 2 + experts * 3 * d * ff + 2 * d + (ExpertCount > 0 ? d * ExpertCount : 0);
            return BlockCount * perLayer + 2L * VocabSize * d + d;
        }
    }
}
