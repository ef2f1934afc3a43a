using System.Text;

namespace Tessera.Jinja;

/// <summary>Python methods templates call on values: <c>str.strip()</c>, <c>dict.items()</c>, <c>loop.cycle()</c> ...</summary>
internal static class BuiltinMethods
{
    private static readonly HashSet<string> StringMethods =
    [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower", "title",
        "capitalize", "replace", "format", "join", "find", "count", "isdigit", "isalpha", "isalnum", "isspace", "islower",
        "isupper", "removeprefix", "removesuffix",
    ];

    private static readonly HashSet<string> DictMethods = ["items", "keys", "values", "get"];

    private static readonly HashSet<string> ListMethods = ["index", "count"];

    public static bool Has(object? target, string name) => target switch
    {
        string => StringMethods.Contains(name),
        Dictionary<string, object?> => DictMethods.Contains(name),
        List<object?> or object?[] => ListMethods.Contains(name),
        LoopContext => name == "cycle",
        _ => false,
    };

    public static bool TryInvoke(object? target, string name, CallArguments args, TemplateRenderer renderer, out object? result)
    {
        if (!Has(target, name))
        {
            result = null;
            return false;
        }
        result = target switch
        {
            string s => InvokeString(s, name, args, renderer),
            Dictionary<string, object?> d => InvokeDict(d, name, args),
            LoopContext loop => loop.Cycle(args.Positional),
            _ => InvokeList(JinjaValues.Iterate(target), name, args),
        };
        return true;
    }

    private static object? InvokeString(string s, string name, CallArguments args, TemplateRenderer renderer)
    {
        switch (name)
        {
            case "strip": return PyString.Strip(s, args.GetString(0, "chars", null), true, true);
            case "lstrip": return PyString.Strip(s, args.GetString(0, "chars", null), true, false);
            case "rstrip": return PyString.Strip(s, args.GetString(0, "chars", null), false, true);
            case "split":
                return PyString.Split(s, args.GetString(0, "sep", null), args.TryGet(1, "maxsplit", out var max) ? JinjaValues.ToLong(max) : -1);
            case "rsplit":
                if (!args.TryGet(1, "maxsplit", out var rmax) || JinjaValues.ToLong(rmax) < 0)
                    return PyString.Split(s, args.GetString(0, "sep", null), -1);
                var sep = args.GetString(0, "sep", null) ?? " ";
                var parts = new List<object?>();
                var rest = s;
                for (var n = JinjaValues.ToLong(rmax); n > 0; n--)
                {
                    var at = rest.LastIndexOf(sep, StringComparison.Ordinal);
                    if (at < 0)
                        break;
                    parts.Insert(0, rest[(at + sep.Length)..]);
                    rest = rest[..at];
                }
                parts.Insert(0, rest);
                return parts;
            case "splitlines": return PyString.SplitLines(s).Cast<object?>().ToList();
            case "startswith": return Affix(s, args.Require(0, "prefix", "startswith"), (x, p) => x.StartsWith(p, StringComparison.Ordinal));
            case "endswith": return Affix(s, args.Require(0, "suffix", "endswith"), (x, p) => x.EndsWith(p, StringComparison.Ordinal));
            case "upper": return s.ToUpperInvariant();
            case "lower": return s.ToLowerInvariant();
            case "title": return PyString.Title(s);
            case "capitalize": return PyString.Capitalize(s);
            case "replace":
                return BuiltinFilters.Replace(s, JinjaValues.ToText(args.Require(0, "old", "replace")), JinjaValues.ToText(args.Require(1, "new", "replace")),
                    args.TryGet(2, "count", out var count) ? JinjaValues.ToLong(count) : -1, renderer.Budget);
            case "format": return Format(s, args);
            case "join":
                var joined = string.Join(s, JinjaValues.Iterate(args.Require(0, "iterable", "join")).Select(JinjaValues.ToText));
                renderer.Budget.CheckLength(joined.Length, "a joined string");
                return joined;
            case "find": return (long)s.IndexOf(JinjaValues.ToText(args.Require(0, "sub", "find")), StringComparison.Ordinal);
            case "count":
                var needle = JinjaValues.ToText(args.Require(0, "sub", "count"));
                return needle.Length == 0 ? PyString.Length(s) + 1 : (long)((s.Length - s.Replace(needle, "", StringComparison.Ordinal).Length) / needle.Length);
            case "isdigit": return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha": return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum": return s.Length > 0 && s.All(char.IsLetterOrDigit);
            case "isspace": return s.Length > 0 && s.All(char.IsWhiteSpace);
            case "islower": return s.Any(char.IsLetter) && s == s.ToLowerInvariant();
            case "isupper": return s.Any(char.IsLetter) && s == s.ToUpperInvariant();
            case "removeprefix":
                var prefix = JinjaValues.ToText(args.Require(0, "prefix", "removeprefix"));
                return s.StartsWith(prefix, StringComparison.Ordinal) ? s[prefix.Length..] : s;
            case "removesuffix":
                var suffix = JinjaValues.ToText(args.Require(0, "suffix", "removesuffix"));
                return suffix.Length > 0 && s.EndsWith(suffix, StringComparison.Ordinal) ? s[..^suffix.Length] : s;
            default:
                throw new JinjaRuntimeError($"'str' object has no method '{name}'");
        }
    }

    private static bool Affix(string s, object? affix, Func<string, string, bool> test) => affix switch
    {
        string one => test(s, one),
        IReadOnlyList<object?> many => many.Any(a => test(s, JinjaValues.ToText(a))),
        _ => throw new JinjaRuntimeError($"expected a string or a tuple of strings, got '{JinjaValues.TypeName(affix)}'"),
    };

    /// <summary>Python's <c>str.format</c> for <c>{}</c>, <c>{0}</c> and <c>{name}</c> fields (format specs are ignored).</summary>
    private static string Format(string s, CallArguments args)
    {
        var sb = new StringBuilder();
        var next = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '{' && i + 1 < s.Length && s[i + 1] == '{')
            {
                sb.Append('{');
                i++;
            }
            else if (c == '}' && i + 1 < s.Length && s[i + 1] == '}')
            {
                sb.Append('}');
                i++;
            }
            else if (c == '{')
            {
                var close = s.IndexOf('}', i);
                if (close < 0)
                    throw new JinjaRuntimeError("single '{' encountered in format string");
                var field = s[(i + 1)..close];
                var colon = field.IndexOf(':');
                if (colon >= 0)
                    field = field[..colon];
                object? value;
                if (field.Length == 0)
                    value = next < args.Positional.Count ? args.Positional[next++] : throw new JinjaRuntimeError("format() has too few arguments");
                else if (int.TryParse(field, out var index))
                    value = index < args.Positional.Count ? args.Positional[index] : throw new JinjaRuntimeError($"format() has no argument {index}");
                else
                    value = args.Keyword.TryGetValue(field, out var named) ? named : throw new JinjaRuntimeError($"format() has no argument '{field}'");
                sb.Append(JinjaValues.ToText(value));
                i = close;
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    private static object? InvokeDict(Dictionary<string, object?> d, string name, CallArguments args) => name switch
    {
        "items" => d.Select(e => (object?)new object?[] { e.Key, e.Value }).ToList(),
        "keys" => d.Keys.Cast<object?>().ToList(),
        "values" => d.Values.ToList(),
        "get" => args.Require(0, "key", "get") is { } key and not JinjaUndefined && d.TryGetValue(JinjaValues.ToText(key), out var value)
            ? value
            : args.Get(1, "default", null),
        _ => throw new JinjaRuntimeError($"'dict' object has no method '{name}'"),
    };

    private static object? InvokeList(IReadOnlyList<object?> items, string name, CallArguments args)
    {
        var needle = args.Require(0, "value", name);
        if (name == "count")
            return (long)items.Count(x => JinjaValues.AreEqual(x, needle));
        for (var i = 0; i < items.Count; i++)
        {
            if (JinjaValues.AreEqual(items[i], needle))
                return (long)i;
        }
        throw new JinjaRuntimeError($"{JinjaValues.Repr(needle)} is not in list");
    }
}
