using Tessera.Engine.Tensors;

namespace Tessera.Engine.Model;

/// <summary>The weights of one transformer block; matrices point into the memory map or a <see cref="WeightArena"/>, norms and biases are small float copies.</summary>
public sealed record LayerWeights(
    WeightMatrix Query,
    WeightMatrix Key,
    WeightMatrix Value,
    WeightMatrix Output,
    WeightMatrix Gate,
    WeightMatrix Up,
    WeightMatrix Down,
    float[] AttentionNorm,
    float[] FeedForwardNorm,
    float[]? QueryBias,
    float[]? KeyBias,
    float[]? ValueBias)
{
    /// <summary>Gemma 2's norms of the attention's and the feed-forward's outputs; null for other models.</summary>
    public float[]? PostAttentionNorm { get; init; }

    /// <inheritdoc cref="PostAttentionNorm"/>
    public float[]? PostFeedForwardNorm { get; init; }

    public long MatrixBytes => Query.ByteSize + Key.ByteSize + Value.ByteSize + Output.ByteSize + Gate.ByteSize + Up.ByteSize + Down.ByteSize;

    /// <summary>The seven matrices in file order.</summary>
    public WeightMatrix[] Matrices => [Query, Key, Value, Output, Gate, Up, Down];
}
