namespace Tessera.Planner;

/// <summary>
/// A contiguous range of transformer blocks <c>[First, Last)</c> held by one stage. The planner's own type, so
/// the planner does not depend on the engine; it converts one to one to the engine's <c>LayerRange</c>.
/// </summary>
public readonly record struct LayerSpan
{
    public LayerSpan(int first, int last)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfLessThan(last, first);
        First = first;
        Last = last;
    }

    public int First { get; }

    public int Last { get; }

    public int Count => Last - First;

    public bool IsEmpty => Last == First;

    public bool Contains(int layer) => layer >= First && layer < Last;

    /// <summary>Number of layers this span shares with <paramref name="other"/>.</summary>
    public int Overlap(LayerSpan other) => Math.Max(0, Math.Min(Last, other.Last) - Math.Max(First, other.First));

    /// <summary>"0-11": first inclusive, last exclusive, as the CLI writes layer ranges.</summary>
    public override string ToString() => $"{First}-{Last}";
}
