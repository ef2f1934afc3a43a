using System.Globalization;
using System.Text;

namespace Tessera.Jinja;

/// <summary>
/// The <c>tojson</c> filter as transformers defines it: Python's
/// <c>json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)</c>.
/// </summary>
internal static class JsonText
{
    public static string Serialize(object? value, string? indent, string? itemSeparator, string? keySeparator, bool sortKeys)
    {
        var sb = new StringBuilder();
        var items = itemSeparator ?? (indent == null ? ", " : ",");
        var keys = keySeparator ?? ": ";
        Write(sb, value, indent, items, keys, sortKeys, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? value, string? indent, string items, string keys, bool sortKeys, int level)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case long l:
                sb.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : JinjaValues.FormatFloat(d));
                break;
            case string s:
                WriteString(sb, s);
                break;
            case IReadOnlyList<object?> list:
                if (list.Count == 0)
                {
                    sb.Append("[]");
                    break;
                }
                sb.Append('[');
                for (var i = 0; i < list.Count; i++)
                {
                    if (i > 0)
                        sb.Append(items);
                    NewLine(sb, indent, level + 1);
                    Write(sb, list[i], indent, items, keys, sortKeys, level + 1);
                }
                NewLine(sb, indent, level);
                sb.Append(']');
                break;
            case Dictionary<string, object?> dict:
                if (dict.Count == 0)
                {
                    sb.Append("{}");
                    break;
                }
                sb.Append('{');
                var entries = sortKeys ? dict.OrderBy(e => e.Key, StringComparer.Ordinal).ToList() : dict.ToList();
                for (var i = 0; i < entries.Count; i++)
                {
                    if (i > 0)
                        sb.Append(items);
                    NewLine(sb, indent, level + 1);
                    WriteString(sb, entries[i].Key);
                    sb.Append(keys);
                    Write(sb, entries[i].Value, indent, items, keys, sortKeys, level + 1);
                }
                NewLine(sb, indent, level);
                sb.Append('}');
                break;
            case JinjaNamespace ns:
                Write(sb, ns.Attributes, indent, items, keys, sortKeys, level);
                break;
            case JinjaUndefined u:
                throw new JinjaRuntimeError($"'{u.Name}' is undefined and cannot be converted to JSON");
            default:
                throw new JinjaRuntimeError($"object of type '{JinjaValues.TypeName(value)}' is not JSON serializable");
        }
    }

    private static void NewLine(StringBuilder sb, string? indent, int level)
    {
        if (indent == null)
            return;
        sb.Append('\n');
        for (var i = 0; i < level; i++)
            sb.Append(indent);
    }

    private static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20)
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
