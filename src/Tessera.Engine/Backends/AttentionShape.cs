namespace Tessera.Engine.Backends;

/// <summary>
/// Shape of one causal attention call for one sequence: <see cref="Tokens"/> new queries at positions
/// <c>[StartPosition, StartPosition + Tokens)</c> over keys/values of all positions up to each query.
/// </summary>
public readonly record struct AttentionShape(int Tokens, int StartPosition, int Heads, int KvHeads, int HeadDim, float Scale)
{
    /// <summary>Scores (after <see cref="Scale"/>) are capped to <c>cap * tanh(s / cap)</c> before the soft max; 0: not capped.</summary>
    public float SoftCap { get; init; }

    /// <summary>A query at position p sees positions p - Window + 1 .. p only; 0: every earlier position.</summary>
    public int Window { get; init; }

    /// <summary>
    /// The first rows that are prompt positions, computed in the order llama.cpp gives a batch of two or more tokens
    /// (llamafile's tinyBLAS) rather than the one it gives a decoded token; 0: every row is decoded.
    /// </summary>
    public int PromptRows { get; init; }

    /// <summary>The first position a query at <paramref name="position"/> sees.</summary>
    public int FirstVisible(int position) => Window > 0 ? Math.Max(0, position - Window + 1) : 0;

    public int QueryWidth => Heads * HeadDim;
    public int KvWidth => KvHeads * HeadDim;
}

/// <summary>
/// One sequence of <see cref="IComputeBackend.AttentionBatch"/>: its keys and values (the cache's positions up to its
/// last query) and the first of its rows in the batch's queries and output.
/// </summary>
public readonly record struct AttentionSequence(BackendTensor Keys, BackendTensor Values, int FirstRow, AttentionShape Shape);
