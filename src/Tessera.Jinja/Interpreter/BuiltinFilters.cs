using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Tessera.Jinja;

/// <summary>Jinja's built-in filters (<c>value | name(arguments)</c>), with transformers' <c>tojson</c>.</summary>
internal static partial class BuiltinFilters
{
    private delegate object? Filter(object? value, CallArguments args, TemplateRenderer renderer);

    private static readonly Dictionary<string, Filter> Filters = new(StringComparer.Ordinal)
    {
        ["abs"] = (v, _, _) => v switch
        {
            long l => (object)Math.Abs(l),
            double d => Math.Abs(d),
            bool b => b ? 1L : 0L,
            _ => throw Expected("abs", "a number", v),
        },
        ["attr"] = (v, a, _) => JinjaValues.GetAttribute(v, JinjaValues.ToText(a.Require(0, "name", "attr")), "attribute"),
        ["capitalize"] = (v, _, _) => PyString.Capitalize(Text(v)),
        ["count"] = (v, _, _) => JinjaValues.Length(v),
        ["d"] = Default,
        ["default"] = Default,
        ["dictsort"] = DictSort,
        ["e"] = (v, _, _) => Escape(v),
        ["escape"] = (v, _, _) => Escape(v),
        ["first"] = (v, _, _) => JinjaValues.Iterate(v) is { Count: > 0 } items ? items[0] : new JinjaUndefined("first item of an empty sequence"),
        ["float"] = ToFloat,
        ["indent"] = Indent,
        ["int"] = ToInt,
        ["items"] = (v, _, _) => v switch
        {
            Dictionary<string, object?> d => d.Select(e => (object?)new object?[] { e.Key, e.Value }).ToList(),
            JinjaUndefined => new List<object?>(),
            _ => throw Expected("items", "a mapping", v),
        },
        ["join"] = Join,
        ["last"] = (v, _, _) => JinjaValues.Iterate(v) is { Count: > 0 } items ? items[^1] : new JinjaUndefined("last item of an empty sequence"),
        ["length"] = (v, _, _) => JinjaValues.Length(v),
        ["list"] = (v, _, _) => JinjaValues.Iterate(v).ToList(),
        ["lower"] = (v, _, _) => Text(v).ToLowerInvariant(),
        ["map"] = Map,
        ["max"] = (v, a, _) => Extreme(v, a, largest: true),
        ["min"] = (v, a, _) => Extreme(v, a, largest: false),
        ["reject"] = (v, a, r) => Select(v, a, r, attribute: false, keep: false),
        ["rejectattr"] = (v, a, r) => Select(v, a, r, attribute: true, keep: false),
        ["replace"] = (v, a, r) => Replace(Text(v), Text(a.Require(0, "old", "replace")), Text(a.Require(1, "new", "replace")),
            a.TryGet(2, "count", out var count) && count is not null ? JinjaValues.ToLong(count) : -1, r.Budget),
        ["reverse"] = (v, _, _) => v is string s ? PyString.Reverse(s) : JinjaValues.Iterate(v).Reverse().ToList(),
        ["round"] = Round,
        ["safe"] = (v, _, _) => JinjaValues.ToText(v),
        ["select"] = (v, a, r) => Select(v, a, r, attribute: false, keep: true),
        ["selectattr"] = (v, a, r) => Select(v, a, r, attribute: true, keep: true),
        ["sort"] = Sort,
        ["string"] = (v, _, _) => JinjaValues.ToText(v),
        ["sum"] = Sum,
        ["title"] = (v, _, _) => TitleCase(Text(v)),
        ["tojson"] = ToJson,
        ["trim"] = (v, a, _) => PyString.Strip(Text(v), a.GetString(0, "chars", null), true, true),
        ["unique"] = Unique,
        ["upper"] = (v, _, _) => Text(v).ToUpperInvariant(),
        ["wordcount"] = (v, _, _) => (long)WordRegex().Count(Text(v)),
        ["center"] = (v, a, _) => Center(Text(v), (int)JinjaValues.ToLong(a.Get(0, "width", 80L))),
    };

    public static bool IsKnown(string name) => Filters.ContainsKey(name);

    public static object? Apply(string name, object? value, CallArguments args, TemplateRenderer renderer) =>
        Filters.TryGetValue(name, out var filter)
            ? filter(value, args, renderer)
            : throw new JinjaRuntimeError($"unknown filter '{name}'");

    private static string Text(object? value) => JinjaValues.ToText(value);

    private static JinjaRuntimeError Expected(string filter, string what, object? value) =>
        value is JinjaUndefined u ? u.Error() : new($"the '{filter}' filter expects {what}, got '{JinjaValues.TypeName(value)}'");

    private static object? Default(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var fallback = args.Get(0, "default_value", "");
        var boolean = args.GetBool(1, "boolean", false);
        return value is JinjaUndefined || (boolean && !JinjaValues.IsTruthy(value)) ? fallback : value;
    }

    private static string Escape(object? value)
    {
        var s = Text(value);
        var sb = new StringBuilder(s.Length);
        foreach (var c in s)
        {
            sb.Append(c switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&#34;",
                '\'' => "&#39;",
                _ => c.ToString(),
            });
        }
        return sb.ToString();
    }

    private static object? ToInt(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var fallback = args.Get(0, "default", 0L);
        var numberBase = (int)JinjaValues.ToLong(args.Get(1, "base", 10L));
        switch (value)
        {
            case long or bool:
                return JinjaValues.ToLong(value);
            case double d:
                return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string s:
                s = s.Trim().Replace("_", "", StringComparison.Ordinal);
                if (numberBase == 10 && long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                    return l;
                if (numberBase != 10)
                {
                    try
                    {
                        return Convert.ToInt64(s, numberBase);
                    }
                    catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
                    {
                        return fallback;
                    }
                }
                return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && double.IsFinite(f)
                    ? (long)Math.Truncate(f)
                    : fallback;
            default:
                return fallback;
        }
    }

    private static object? ToFloat(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var fallback = args.Get(0, "default", 0.0);
        return value switch
        {
            double d => d,
            long or bool => JinjaValues.ToDouble(value),
            string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var f) => f,
            _ => fallback,
        };
    }

    private static object? Indent(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var width = args.Get(0, "width", 4L);
        var indentation = width is string w ? w : new string(' ', (int)Math.Max(0, JinjaValues.ToLong(width)));
        var first = args.GetBool(1, "first", false);
        var blank = args.GetBool(2, "blank", false);
        var lines = PyString.SplitLines(Text(value) + "\n");
        string result;
        if (blank)
        {
            result = string.Join("\n" + indentation, lines);
        }
        else
        {
            var sb = new StringBuilder(lines.Count > 0 ? lines[0] : "");
            for (var i = 1; i < lines.Count; i++)
                sb.Append('\n').Append(lines[i].Length > 0 ? indentation + lines[i] : lines[i]);
            result = sb.ToString();
        }
        return first ? indentation + result : result;
    }

    private static object? Join(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var separator = args.GetString(0, "d", "") ?? "";
        var attribute = args.GetString(1, "attribute", null);
        var items = JinjaValues.Iterate(value);
        var parts = attribute == null ? items : items.Select(i => ResolveAttribute(i, attribute));
        var joined = string.Join(separator, parts.Select(JinjaValues.ToText));
        renderer.Budget.CheckLength(joined.Length, "a joined string");
        return joined;
    }

    internal static string Replace(string s, string old, string replacement, long count, RenderBudget budget)
    {
        string result;
        if (count < 0)
        {
            if (old.Length == 0)
            {
                budget.CheckLength((long)s.Length * (replacement.Length + 1) + replacement.Length, "a replaced string");
                var sb = new StringBuilder(replacement);
                foreach (var c in s)
                    sb.Append(c).Append(replacement);
                return sb.ToString();
            }
            result = s.Replace(old, replacement, StringComparison.Ordinal);
        }
        else
        {
            var sb = new StringBuilder();
            var position = 0;
            for (var n = 0L; n < count && old.Length > 0; n++)
            {
                var at = s.IndexOf(old, position, StringComparison.Ordinal);
                if (at < 0)
                    break;
                sb.Append(s, position, at - position).Append(replacement);
                position = at + old.Length;
            }
            sb.Append(s, position, s.Length - position);
            result = sb.ToString();
        }
        budget.CheckLength(result.Length, "a replaced string");
        return result;
    }

    private static object? Round(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var precision = (int)JinjaValues.ToLong(args.Get(0, "precision", 0L));
        var method = args.GetString(1, "method", "common");
        var x = JinjaValues.ToDouble(value);
        var scale = Math.Pow(10, precision);
        return method switch
        {
            "common" when value is long or bool => (object)JinjaValues.ToLong(value),
            "common" => Math.Round(x, Math.Clamp(precision, 0, 15), MidpointRounding.ToEven),
            "ceil" => Math.Ceiling(x * scale) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            _ => throw new JinjaRuntimeError("the 'round' filter's method must be 'common', 'ceil' or 'floor'"),
        };
    }

    private static object? Map(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var items = JinjaValues.Iterate(value);
        if (args.Keyword.TryGetValue("attribute", out var attribute))
        {
            var path = Text(attribute);
            var hasDefault = args.Keyword.TryGetValue("default", out var fallback);
            return items.Select(i =>
            {
                var resolved = ResolveAttribute(i, path);
                return hasDefault && resolved is JinjaUndefined ? fallback : resolved;
            }).ToList();
        }
        if (args.Positional.Count == 0)
            throw new JinjaRuntimeError("map() needs a filter name or attribute=...");
        var filter = Text(args.Positional[0]);
        if (!IsKnown(filter))
            throw new JinjaRuntimeError($"map() was given the unknown filter '{filter}'");
        var rest = new CallArguments(args.Positional.Skip(1).ToList(), args.Keyword);
        return items.Select(i => Apply(filter, i, rest, renderer)).ToList();
    }

    private static object? Select(object? value, CallArguments args, TemplateRenderer renderer, bool attribute, bool keep)
    {
        var items = JinjaValues.Iterate(value);
        var offset = 0;
        string? path = null;
        if (attribute)
        {
            path = Text(args.Require(0, "attribute", keep ? "selectattr" : "rejectattr"));
            offset = 1;
        }
        string? test = args.Positional.Count > offset ? Text(args.Positional[offset]) : null;
        if (test != null && !BuiltinTests.IsKnown(test))
            throw new JinjaRuntimeError($"unknown test '{test}'");
        var testArgs = new CallArguments(args.Positional.Skip(offset + 1).ToList(), args.Keyword);
        var result = new List<object?>();
        foreach (var item in items)
        {
            var subject = path == null ? item : ResolveAttribute(item, path);
            var passed = test == null ? JinjaValues.IsTruthy(subject) : BuiltinTests.Apply(test, subject, testArgs);
            if (passed == keep)
                result.Add(item);
        }
        return result;
    }

    /// <summary>Follows a dotted attribute path such as "function.name" or "0"; integers index lists.</summary>
    internal static object? ResolveAttribute(object? item, string path)
    {
        foreach (var part in path.Split('.'))
        {
            item = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                ? JinjaValues.GetItem(item, index, path)
                : JinjaValues.GetItem(item, part, path);
        }
        return item;
    }

    private static Func<object?, object?> SortKey(CallArguments args, int caseSensitiveIndex, int attributeIndex)
    {
        var caseSensitive = args.GetBool(caseSensitiveIndex, "case_sensitive", false);
        var attribute = args.GetString(attributeIndex, "attribute", null);
        return item =>
        {
            var key = attribute == null ? item : ResolveAttribute(item, attribute);
            return !caseSensitive && key is string s ? s.ToLowerInvariant() : key;
        };
    }

    private static object? Sort(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var reverse = args.GetBool(0, "reverse", false);
        var key = SortKey(args, 1, 2);
        var sorted = JinjaValues.Iterate(value).OrderBy(key, Comparer<object?>.Create(JinjaValues.Compare)).ToList();
        if (reverse)
            sorted.Reverse();
        return sorted;
    }

    private static object? DictSort(object? value, CallArguments args, TemplateRenderer renderer)
    {
        if (value is not Dictionary<string, object?> dict)
            throw Expected("dictsort", "a mapping", value);
        var caseSensitive = args.GetBool(0, "case_sensitive", false);
        var byValue = args.GetString(1, "by", "key") == "value";
        var reverse = args.GetBool(2, "reverse", false);
        var sorted = dict.OrderBy(e =>
        {
            object? k = byValue ? e.Value : e.Key;
            return !caseSensitive && k is string s ? s.ToLowerInvariant() : k;
        }, Comparer<object?>.Create(JinjaValues.Compare)).Select(e => (object?)new object?[] { e.Key, e.Value }).ToList();
        if (reverse)
            sorted.Reverse();
        return sorted;
    }

    private static object? Unique(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var key = SortKey(args, 0, 1);
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var item in JinjaValues.Iterate(value))
        {
            var k = key(item);
            if (seen.Any(s => JinjaValues.AreEqual(s, k)))
                continue;
            seen.Add(k);
            result.Add(item);
        }
        return result;
    }

    private static object? Extreme(object? value, CallArguments args, bool largest)
    {
        var key = SortKey(args, 0, 1);
        var items = JinjaValues.Iterate(value);
        if (items.Count == 0)
            return new JinjaUndefined(largest ? "max of an empty sequence" : "min of an empty sequence");
        var best = items[0];
        foreach (var item in items.Skip(1))
        {
            var order = JinjaValues.Compare(key(item), key(best));
            if (largest ? order > 0 : order < 0)
                best = item;
        }
        return best;
    }

    private static object? Sum(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var attribute = args.GetString(0, "attribute", null);
        object? total = args.Get(1, "start", 0L);
        foreach (var item in JinjaValues.Iterate(value))
            total = Arithmetic.Apply(BinaryOperator.Add, total, attribute == null ? item : ResolveAttribute(item, attribute), renderer.Budget);
        return total;
    }

    private static object? ToJson(object? value, CallArguments args, TemplateRenderer renderer)
    {
        var indentArgument = args.Get(0, "indent", null);
        var indent = indentArgument switch
        {
            null or JinjaUndefined => null,
            string s => s,
            _ => new string(' ', (int)Math.Max(0, JinjaValues.ToLong(indentArgument))),
        };
        string? itemSeparator = null;
        string? keySeparator = null;
        if (args.Keyword.TryGetValue("separators", out var separators) && separators is IReadOnlyList<object?> { Count: 2 } pair)
        {
            itemSeparator = Text(pair[0]);
            keySeparator = Text(pair[1]);
        }
        var json = JsonText.Serialize(value, indent, itemSeparator, keySeparator, args.GetBool(-1, "sort_keys", false));
        renderer.Budget.CheckLength(json.Length, "a JSON string");
        return json;
    }

    /// <summary>Jinja's <c>title</c>: capitalise each word, words split at whitespace, '-', and opening brackets.</summary>
    private static string TitleCase(string s)
    {
        var sb = new StringBuilder(s.Length);
        var atWordStart = true;
        foreach (var c in s)
        {
            var isDelimiter = char.IsWhiteSpace(c) || c is '-' or '(' or '{' or '[' or '<';
            if (isDelimiter)
                sb.Append(c);
            else
                sb.Append(atWordStart ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            atWordStart = isDelimiter;
        }
        return sb.ToString();
    }

    private static string Center(string s, int width)
    {
        if (s.Length >= width)
            return s;
        var total = width - s.Length;
        var left = total / 2 + (total & width & 1);
        return new string(' ', left) + s + new string(' ', total - left);
    }

    [GeneratedRegex(@"\w+")]
    private static partial Regex WordRegex();
}
