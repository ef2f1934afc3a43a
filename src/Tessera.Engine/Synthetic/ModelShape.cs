namespace Tessera.Engine.Synthetic;

/// <summary>The dimensions of a real model family, for random-weight models of the same shape.</summary>
public sealed record ModelShape(
    string Name,
    int EmbeddingLength,
    int BlockCount,
    int HeadCount,
    int HeadCountKv,
    int FeedForwardLength,
    int VocabSize,
    int ContextLength,
    float RopeFreqBase = 10000f)
{
    public static ModelShape TinyLlama { get; } = new("tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048);

    public static ModelShape Llama7B { get; } = new("llama-7b", 4096, 32, 32, 32, 11008, 32000, 4096);

    /// <summary>A small model for quick runs and tests (same layout as tiny-a in the test data).</summary>
    public static ModelShape Tiny { get; } = new("tiny", 256, 4, 8, 4, 768, 32000, 4096);

    public static IReadOnlyList<ModelShape> All { get; } = [Tiny, TinyLlama, Llama7B];

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
            var perLayer = d * d * 2 + d * kv * 2 + 3 * d * ff + 2 * d;
            return BlockCount * perLayer + 2L * VocabSize * d + d;
        }
    }
}
