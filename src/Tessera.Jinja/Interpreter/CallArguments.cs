namespace Tessera.Jinja;

/// <summary>Evaluated arguments of a call, filter or test: positional values and keyword values.</summary>
internal sealed class CallArguments(IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> keyword)
{
    private static readonly Dictionary<string, object?> NoKeywords = new(StringComparer.Ordinal);

    public static CallArguments None { get; } = new([], NoKeywords);

    public IReadOnlyList<object?> Positional { get; } = positional;

    public IReadOnlyDictionary<string, object?> Keyword { get; } = keyword;

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, if given.</summary>
    public bool TryGet(int index, string name, out object? value)
    {
        if (index >= 0 && index < Positional.Count)
        {
            value = Positional[index];
            return true;
        }
        return Keyword.TryGetValue(name, out value);
    }

    public object? Get(int index, string name, object? fallback) => TryGet(index, name, out var value) ? value : fallback;

    public object? Require(int index, string name, string function) =>
        TryGet(index, name, out var value)
            ? value
            : throw new JinjaRuntimeError($"{function}() is missing its argument '{name}'");

    public bool GetBool(int index, string name, bool fallback) =>
        TryGet(index, name, out var value) ? JinjaValues.IsTruthy(value) : fallback;

    public string? GetString(int index, string name, string? fallback) =>
        TryGet(index, name, out var value) && value is not (null or JinjaUndefined) ? JinjaValues.ToText(value) : fallback;
}
