using System.Globalization;
using System.Text;

namespace Tessera.Jinja;

/// <summary>
/// Python semantics of template values: truthiness, <c>str()</c>, <c>repr()</c>, equality, ordering,
/// iteration, length, attribute and item access. Values are string, long, double, bool, null (none),
/// <see cref="List{T}"/> (list), <c>object?[]</c> (tuple), <see cref="Dictionary{TKey,TValue}"/> with
/// string keys (dict), <see cref="JinjaUndefined"/>, <see cref="JinjaNamespace"/>, <see cref="LoopContext"/>
/// and <see cref="IJinjaCallable"/>.
/// </summary>
internal static class JinjaValues
{
    public static bool IsTruthy(object? value) => value switch
    {
        null or JinjaUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        object?[] tuple => tuple.Length > 0,
        Dictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        JinjaUndefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        Dictionary<string, object?> => "dict",
        JinjaNamespace => "Namespace",
        LoopContext => "LoopContext",
        IJinjaCallable => "function",
        _ => value.GetType().Name,
    };

    /// <summary>Python's <c>str(value)</c>, with undefined as "" (how Jinja prints it).</summary>
    public static string ToText(object? value) => value switch
    {
        string s => s,
        null => "None",
        JinjaUndefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatFloat(d),
        _ => Repr(value),
    };

    /// <summary>Python's <c>repr(value)</c>.</summary>
    public static string Repr(object? value)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, value);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case string s:
                AppendStringRepr(sb, s);
                break;
            case List<object?> list:
                sb.Append('[');
                for (var i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                        sb.Append(", ");
                    AppendRepr(sb, list[i]);
                }
                sb.Append(']');
                break;
            case object?[] tuple:
                sb.Append('(');
                for (var i = 0; i < tuple.Length; i++)
                {
                    if (i > 0)
                        sb.Append(", ");
                    AppendRepr(sb, tuple[i]);
                }
                sb.Append(tuple.Length == 1 ? ",)" : ")");
                break;
            case Dictionary<string, object?> dict:
                sb.Append('{');
                var first = true;
                foreach (var (key, item) in dict)
                {
                    if (!first)
                        sb.Append(", ");
                    first = false;
                    AppendStringRepr(sb, key);
                    sb.Append(": ");
                    AppendRepr(sb, item);
                }
                sb.Append('}');
                break;
            case JinjaNamespace ns:
                sb.Append("<Namespace ");
                AppendRepr(sb, ns.Attributes);
                sb.Append('>');
                break;
            case LoopContext:
                sb.Append("<LoopContext>");
                break;
            case IJinjaCallable callable:
                sb.Append("<function ").Append(callable.Name).Append('>');
                break;
            case JinjaUndefined:
                sb.Append("Undefined");
                break;
            default:
                sb.Append(ToText(value));
                break;
        }
    }

    private static void AppendStringRepr(StringBuilder sb, string s)
    {
        var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        foreach (var c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote)
                        sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f)
                        sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append(quote);
    }

    /// <summary>Python's <c>repr(float)</c>: shortest round-trip digits, fixed notation for 1e-4 &lt;= |x| &lt; 1e16.</summary>
    public static string FormatFloat(double value)
    {
        if (double.IsNaN(value))
            return "nan";
        if (double.IsInfinity(value))
            return value > 0 ? "inf" : "-inf";
        if (value == 0)
            return double.IsNegative(value) ? "-0.0" : "0.0";

        var shortest = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        string digits;
        int exponent;
        var e = shortest.IndexOfAny(['E', 'e']);
        var mantissa = e >= 0 ? shortest[..e] : shortest;
        var mantissaExponent = e >= 0 ? int.Parse(shortest[(e + 1)..], CultureInfo.InvariantCulture) : 0;
        var dot = mantissa.IndexOf('.');
        var integerPart = dot >= 0 ? mantissa[..dot] : mantissa;
        var fractionPart = dot >= 0 ? mantissa[(dot + 1)..] : "";
        var all = (integerPart + fractionPart).TrimStart('0');
        var leadingZeros = (integerPart + fractionPart).Length - all.Length;
        exponent = integerPart.Length - 1 - leadingZeros + mantissaExponent;
        digits = all.TrimEnd('0');
        if (digits.Length == 0)
            digits = "0";

        var sb = new StringBuilder();
        if (value < 0)
            sb.Append('-');
        if (exponent is >= -4 and < 16)
        {
            if (exponent >= 0)
            {
                var whole = digits.Length > exponent + 1 ? digits[..(exponent + 1)] : digits.PadRight(exponent + 1, '0');
                var fraction = digits.Length > exponent + 1 ? digits[(exponent + 1)..] : "0";
                sb.Append(whole).Append('.').Append(fraction);
            }
            else
            {
                sb.Append("0.").Append('0', -exponent - 1).Append(digits);
            }
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1)
                sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(exponent < 0 ? '-' : '+').Append(Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    public static bool AreEqual(object? left, object? right)
    {
        if (left is null || right is null)
            return left is null && right is null;
        if (IsNumber(left) && IsNumber(right))
        {
            if (left is double || right is double)
                return ToDouble(left) == ToDouble(right);
            return ToLong(left) == ToLong(right);
        }
        switch (left)
        {
            case string ls:
                return right is string rs && string.Equals(ls, rs, StringComparison.Ordinal);
            case JinjaUndefined:
                return right is JinjaUndefined;
            case List<object?> ll:
                return right is List<object?> rl && SequenceEqual(ll, rl);
            case object?[] lt:
                return right is object?[] rt && SequenceEqual(lt, rt);
            case Dictionary<string, object?> ld:
                if (right is not Dictionary<string, object?> rd || ld.Count != rd.Count)
                    return false;
                foreach (var (key, value) in ld)
                {
                    if (!rd.TryGetValue(key, out var other) || !AreEqual(value, other))
                        return false;
                }
                return true;
            default:
                return ReferenceEquals(left, right);
        }
    }

    private static bool SequenceEqual(IReadOnlyList<object?> left, IReadOnlyList<object?> right)
    {
        if (left.Count != right.Count)
            return false;
        for (var i = 0; i < left.Count; i++)
        {
            if (!AreEqual(left[i], right[i]))
                return false;
        }
        return true;
    }

    /// <summary>Python ordering (<c>&lt;</c>) of numbers, strings and sequences; anything else is an error.</summary>
    public static int Compare(object? left, object? right)
    {
        if (IsNumber(left) && IsNumber(right))
        {
            if (left is double || right is double)
                return ToDouble(left).CompareTo(ToDouble(right));
            return ToLong(left).CompareTo(ToLong(right));
        }
        if (left is string ls && right is string rs)
            return string.CompareOrdinal(ls, rs);
        if (left is IReadOnlyList<object?> ll && right is IReadOnlyList<object?> rl && left.GetType() == right.GetType())
        {
            for (var i = 0; i < Math.Min(ll.Count, rl.Count); i++)
            {
                if (!AreEqual(ll[i], rl[i]))
                    return Compare(ll[i], rl[i]);
            }
            return ll.Count.CompareTo(rl.Count);
        }
        if (left is JinjaUndefined lu)
            throw lu.Error();
        if (right is JinjaUndefined ru)
            throw ru.Error();
        throw new JinjaRuntimeError($"'<' is not supported between '{TypeName(left)}' and '{TypeName(right)}'");
    }

    public static long ToLong(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new JinjaRuntimeError($"expected an integer, got '{TypeName(value)}'"),
    };

    public static double ToDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new JinjaRuntimeError($"expected a number, got '{TypeName(value)}'"),
    };

    /// <summary>The items a <c>for</c> loop visits: list and tuple items, dict keys, string characters.</summary>
    public static IReadOnlyList<object?> Iterate(object? value) => value switch
    {
        List<object?> list => list,
        object?[] tuple => tuple,
        Dictionary<string, object?> dict => dict.Keys.Cast<object?>().ToList(),
        string s => PyString.Characters(s),
        JinjaUndefined => [],
        _ => throw new JinjaRuntimeError($"'{TypeName(value)}' object is not iterable"),
    };

    public static long Length(object? value) => value switch
    {
        string s => PyString.Length(s),
        List<object?> list => list.Count,
        object?[] tuple => tuple.Length,
        Dictionary<string, object?> dict => dict.Count,
        JinjaUndefined => 0,
        _ => throw new JinjaRuntimeError($"object of type '{TypeName(value)}' has no length"),
    };

    /// <summary>The <c>in</c> operator: substring, list membership or dict key.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string needle
            ? s.Contains(needle, StringComparison.Ordinal)
            : throw new JinjaRuntimeError($"'in <string>' requires a string on the left, not '{TypeName(item)}'"),
        List<object?> list => list.Any(x => AreEqual(x, item)),
        object?[] tuple => tuple.Any(x => AreEqual(x, item)),
        Dictionary<string, object?> dict => item is string key && dict.ContainsKey(key),
        JinjaUndefined => false,
        _ => throw new JinjaRuntimeError($"argument of type '{TypeName(container)}' is not iterable"),
    };

    /// <summary><c>target.name</c>: dict key, loop or namespace attribute, or a method bound to the value.</summary>
    public static object? GetAttribute(object? target, string name, string describedAs)
    {
        switch (target)
        {
            case Dictionary<string, object?> dict when dict.TryGetValue(name, out var value):
                return value;
            case JinjaNamespace ns when ns.Attributes.TryGetValue(name, out var value):
                return value;
            case LoopContext loop when loop.TryGetAttribute(name, out var value):
                return value;
        }
        if (BuiltinMethods.Has(target, name))
            return new BoundMethod(target, name);
        return new JinjaUndefined(describedAs);
    }

    /// <summary><c>target[key]</c>: list index (negative from the end), dict key, string character.</summary>
    public static object? GetItem(object? target, object? key, string describedAs)
    {
        switch (target)
        {
            case IReadOnlyList<object?> list when key is long or bool:
                var index = ToLong(key);
                if (index < 0)
                    index += list.Count;
                return index >= 0 && index < list.Count ? list[(int)index] : new JinjaUndefined(describedAs);
            case string s when key is long or bool:
                var characters = PyString.Characters(s);
                var at = ToLong(key);
                if (at < 0)
                    at += characters.Count;
                return at >= 0 && at < characters.Count ? characters[(int)at] : new JinjaUndefined(describedAs);
            case Dictionary<string, object?> dict:
                return key is not (null or JinjaUndefined) && dict.TryGetValue(ToText(key), out var value)
                    ? value
                    : new JinjaUndefined(describedAs);
        }
        return key is string name ? GetAttribute(target, name, describedAs) : new JinjaUndefined(describedAs);
    }

    /// <summary><c>target[start:stop:step]</c> on a list, tuple or string, with Python's rules.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        IReadOnlyList<object?> items = target switch
        {
            string s => PyString.Characters(s),
            IReadOnlyList<object?> list => list,
            JinjaUndefined u => throw u.Error(),
            _ => throw new JinjaRuntimeError($"'{TypeName(target)}' object cannot be sliced"),
        };
        var length = (long)items.Count;
        var stride = step is null or JinjaUndefined ? 1 : ToLong(step);
        if (stride == 0)
            throw new JinjaRuntimeError("slice step cannot be zero");
        long first, last;
        if (start is null or JinjaUndefined)
            first = stride < 0 ? length - 1 : 0;
        else
            first = Adjust(ToLong(start), length, stride);
        if (stop is null or JinjaUndefined)
            last = stride < 0 ? -1 : length;
        else
            last = Adjust(ToLong(stop), length, stride);

        var result = new List<object?>();
        for (var i = first; stride > 0 ? i < last : i > last; i += stride)
            result.Add(items[(int)i]);
        return target switch
        {
            string => string.Concat(result.Cast<string>()),
            object?[] => result.ToArray(),
            _ => result,
        };
    }

    private static long Adjust(long index, long length, long step)
    {
        if (index < 0)
        {
            index += length;
            if (index < 0)
                index = step < 0 ? -1 : 0;
        }
        else if (index >= length)
        {
            index = step < 0 ? length - 1 : length;
        }
        return index;
    }
}
