namespace Tessera.Engine.Model;

/// <summary>
/// One session's part of a batch: <see cref="TokenCount"/> new positions appended to <see cref="Cache"/>
/// (starting at its current length). Rows of the batch's inputs and outputs follow the order of sequences.
/// </summary>
public readonly record struct BatchSequence(KvCache Cache, int TokenCount);
