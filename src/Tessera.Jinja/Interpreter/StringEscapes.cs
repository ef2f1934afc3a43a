using System.Globalization;
using System.Text;

namespace Tessera.Jinja;

/// <summary>Decodes backslash escapes in string literals as Python's <c>unicode-escape</c> does.</summary>
internal static class StringEscapes
{
    public static string Decode(string raw)
    {
        if (!raw.Contains('\\'))
            return raw;
        var sb = new StringBuilder(raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            var c = raw[i];
            if (c != '\\' || i + 1 >= raw.Length)
            {
                sb.Append(c);
                continue;
            }
            var e = raw[++i];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\n': break;
                case 'x' when TryHex(raw, i + 1, 2, out var x):
                    sb.Append((char)x);
                    i += 2;
                    break;
                case 'u' when TryHex(raw, i + 1, 4, out var u):
                    sb.Append((char)u);
                    i += 4;
                    break;
                case 'U' when TryHex(raw, i + 1, 8, out var big) && Rune.IsValid(big):
                    sb.Append(new Rune(big).ToString());
                    i += 8;
                    break;
                case >= '0' and <= '7':
                    var value = 0;
                    var n = 0;
                    while (n < 3 && i < raw.Length && raw[i] is >= '0' and <= '7')
                    {
                        value = value * 8 + (raw[i] - '0');
                        i++;
                        n++;
                    }
                    i--;
                    sb.Append((char)value);
                    break;
                default:
                    sb.Append('\\').Append(e);
                    break;
            }
        }
        return sb.ToString();
    }

    private static bool TryHex(string s, int start, int count, out int value)
    {
        value = 0;
        return start + count <= s.Length
            && int.TryParse(s.AsSpan(start, count), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
