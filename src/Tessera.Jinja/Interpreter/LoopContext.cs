namespace Tessera.Jinja;

/// <summary>The <c>loop</c> variable inside a <c>for</c>: index, first, last, length and neighbours.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items)
{
    public IReadOnlyList<object?> Items { get; } = items;

    public int Index0 { get; set; }

    public bool TryGetAttribute(string name, out object? value)
    {
        var length = Items.Count;
        value = name switch
        {
            "index0" => (long)Index0,
            "index" => (long)Index0 + 1,
            "revindex" => (long)(length - Index0),
            "revindex0" => (long)(length - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == length - 1,
            "length" => (long)length,
            "depth" => 1L,
            "depth0" => 0L,
            "previtem" => Index0 > 0 ? Items[Index0 - 1] : new JinjaUndefined("loop.previtem"),
            "nextitem" => Index0 + 1 < length ? Items[Index0 + 1] : new JinjaUndefined("loop.nextitem"),
            _ => Missing,
        };
        return !ReferenceEquals(value, Missing);
    }

    /// <summary><c>loop.cycle(a, b, ...)</c>: the argument at the current index, round-robin.</summary>
    public object? Cycle(IReadOnlyList<object?> values)
    {
        if (values.Count == 0)
            throw new JinjaRuntimeError("loop.cycle() needs at least one value");
        return values[Index0 % values.Count];
    }

    private static readonly object Missing = new();
}
