namespace Tessera.Jinja;

/// <summary>Variables of one level (template, loop body, macro call), chained to the enclosing level.</summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Scope? _parent = parent;
    private readonly Dictionary<string, object?> _values = new(StringComparer.Ordinal);

    public bool TryGet(string name, out object? value)
    {
        for (var scope = this; scope != null; scope = scope._parent)
        {
            if (scope._values.TryGetValue(name, out value))
                return true;
        }
        value = null;
        return false;
    }

    public void Set(string name, object? value) => _values[name] = value;
}
