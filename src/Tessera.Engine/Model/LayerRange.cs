namespace Tessera.Engine.Model;

/// <summary>
/// A contiguous range of transformer blocks, <c>[First, Last)</c>, run by one stage. The stage whose range
/// starts at 0 also embeds tokens; the stage whose range ends at the block count also applies the output
/// norm and head. A whole model is one range.
/// </summary>
public readonly record struct LayerRange
{
    public LayerRange(int first, int last)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfLessThan(last, first);
        First = first;
        Last = last;
    }

    public int First { get; }

    public int Last { get; }

    public int Count => Last - First;

    public bool Contains(int layer) => layer >= First && layer < Last;

    public static LayerRange All(int blockCount) => new(0, blockCount);

    /// <summary>Parses "a-b" (inclusive-exclusive, e.g. "0-11") or "a..b".</summary>
    public static LayerRange Parse(string text)
    {
        var parts = text.Split(['-', '.'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !int.TryParse(parts[0], out var a) || !int.TryParse(parts[1], out var b) || a < 0 || b < a)
            throw new FormatException($"'{text}' is not a layer range like 0-11 (first inclusive, last exclusive).");
        return new LayerRange(a, b);
    }

    public override string ToString() => $"{First}-{Last}";
}
