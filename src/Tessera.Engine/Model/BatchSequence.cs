namespace Tessera.Engine.Model;

/// <summary>
/// One session's part of a batch: <see cref="TokenCount"/> new positions appended to <see cref="Cache"/>
/// (starting at its current length). Rows of the batch's inputs and outputs follow the order of sequences.
/// </summary>
public readonly record struct BatchSequence(KvCache Cache, int TokenCount)
{
    /// <summary>
    /// Length of the session's prompt. llama.cpp computes a prompt of two or more tokens as one batch, whose attention
    /// products take another order than a decoded token's; positions below this length follow it, whatever batch they
    /// arrive in, so a replayed session rebuilds the same cache. 0 (the default): every position as decoded.
    /// </summary>
    public int PromptLength { get; init; }

    /// <summary>How many of this call's rows, from the first, are prompt positions computed in the prompt's order.</summary>
    public int PromptRows(int start) => PromptLength < 2 ? 0 : Math.Clamp(PromptLength - start, 0, TokenCount);
}
