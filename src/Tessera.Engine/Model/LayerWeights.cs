using Tessera.Engine.Tensors;

namespace Tessera.Engine.Model;

/// <summary>
/// The weights of one transformer block; matrices point into the memory map or a <see cref="WeightArena"/>, norms and
/// biases are small float copies. A dense block has <see cref="Gate"/>, <see cref="Up"/> and <see cref="Down"/>; a
/// mixture-of-experts block has <see cref="Experts"/> instead.
/// </summary>
public sealed record LayerWeights(
    WeightMatrix Query,
    WeightMatrix Key,
    WeightMatrix Value,
    WeightMatrix Output,
    WeightMatrix? Gate,
    WeightMatrix? Up,
    WeightMatrix? Down,
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

    /// <summary>A mixture-of-experts block's router and experts; null for a dense block.</summary>
    public ExpertWeights? Experts { get; init; }

    /// <summary>Bytes of every matrix (what the block holds in memory).</summary>
    public long MatrixBytes
    {
        get
        {
            long total = 0;
            foreach (var m in Matrices)
                total += m.ByteSize;
            return total;
        }
    }

    /// <summary>
    /// Bytes a decoded token reads: every matrix of a dense block; of a mixture-of-experts block, the router, the shared
    /// expert and <paramref name="expertsUsed"/> experts (the chosen ones).
    /// </summary>
    public long ActiveBytes(int expertsUsed)
    {
        if (Experts is not { } e)
            return MatrixBytes;
        var attention = Query.ByteSize + Key.ByteSize + Value.ByteSize + Output.ByteSize;
        var shared = e.Shared is { } s ? s.Gate.ByteSize + s.Up.ByteSize + s.Down.ByteSize + s.GateInput.ByteSize : 0;
        return attention + e.Router.ByteSize + shared + expertsUsed * (e.Gate[0].ByteSize + e.Up[0].ByteSize + e.Down[0].ByteSize);
    }

    /// <summary>Every matrix: attention, then the feed-forward's (or the router, experts and shared expert).</summary>
    public WeightMatrix[] Matrices
    {
        get
        {
            var all = new List<WeightMatrix> { Query, Key, Value, Output };
            foreach (var m in (WeightMatrix?[])[Gate, Up, Down])
            {
                if (m is { } matrix)
                    all.Add(matrix);
            }
            if (Experts is { } e)
            {
                all.Add(e.Router);
                all.AddRange(e.Gate);
                all.AddRange(e.Up);
                all.AddRange(e.Down);
                if (e.Shared is { } s)
                    all.AddRange([s.Gate, s.Up, s.Down, s.GateInput]);
            }
            return [.. all];
        }
    }

    /// <summary>The same block with every matrix replaced by <paramref name="map"/>'s result (copies into an arena).</summary>
    public LayerWeights MapMatrices(Func<WeightMatrix, WeightMatrix> map)
    {
        WeightMatrix? Optional(WeightMatrix? m) => m is { } matrix ? map(matrix) : null;
        return this with
        {
            Query = map(Query), Key = map(Key), Value = map(Value), Output = map(Output),
            Gate = Optional(Gate), Up = Optional(Up), Down = Optional(Down),
            Experts = Experts is { } e
                ? new ExpertWeights(map(e.Router), Array.ConvertAll(e.Gate, m => map(m)), Array.ConvertAll(e.Up, m => map(m)), Array.ConvertAll(e.Down, m => map(m)),
                    e.Shared is { } s ? new SharedExpert(map(s.Gate), map(s.Up), map(s.Down), map(s.GateInput)) : null)
                : null,
        };
    }
}

/// <summary>
/// A mixture-of-experts feed-forward: the router (<c>ffn_gate_inp</c>, one output per expert) and each expert's gate, up
/// and down (rows of the stacked <c>ffn_*_exps</c> tensors), with Qwen2-MoE's shared expert.
/// </summary>
public sealed record ExpertWeights(WeightMatrix Router, WeightMatrix[] Gate, WeightMatrix[] Up, WeightMatrix[] Down, SharedExpert? Shared);

/// <summary>Qwen2-MoE's shared expert: a gated feed-forward every token goes through, scaled by sigmoid(<see cref="GateInput"/> · x).</summary>
public sealed record SharedExpert(WeightMatrix Gate, WeightMatrix Up, WeightMatrix Down, WeightMatrix GateInput);
