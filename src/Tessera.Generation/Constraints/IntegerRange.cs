using System.Globalization;
using System.Text;

namespace Tessera.Generation.Constraints;

/// <summary>
/// GBNF for the JSON integers between two bounds (either may be open), digit by digit: a range of numbers with the same
/// count of digits is a first digit and ranges of the rest, as regular-expression tools write numeric ranges.
/// </summary>
internal static class IntegerRange
{
    /// <summary>Integers have at most 16 digits in these grammars (what a double holds exactly, about).</summary>
    public const long Largest = 9_999_999_999_999_999;

    public static string Grammar(long? lo, long? hi)
    {
        var options = new List<string>();
        // Negative numbers: "-" and a magnitude in [max(1, -hi), -lo].
        if (lo is null || lo < 0)
        {
            var from = hi is { } h ? Math.Max(1, -h) : 1;
            var to = lo is { } l ? -l : (long?)null;
            if (to is null || from <= to)
                options.Add($"\"-\" ( {NonNegative(from, to)} )");
        }
        if (hi is null || hi >= 0)
            options.Add(NonNegative(Math.Max(0, lo ?? 0), hi));
        return string.Join(" | ", options);
    }

    /// <summary>Numbers n with <paramref name="lo"/> &lt;= n &lt;= <paramref name="hi"/> (null: as many digits as allowed), lo &gt;= 0.</summary>
    private static string NonNegative(long lo, long? hi)
    {
        var parts = new List<string>();
        var loDigits = Digits(lo);
        var hiDigits = hi is { } h ? Digits(h) : 16;
        for (var d = loDigits; d <= hiDigits; d++)
        {
            var first = d == 1 ? 0 : Pow10(d - 1);
            var last = Pow10(d) - 1;
            var a = Math.Max(first, lo);
            var b = hi is { } hh ? Math.Min(last, hh) : last;
            if (hi is null && d > loDigits)
            {
                // Every number with more digits than lo's: one repetition covers them all.
                parts.Add($"[1-9] [0-9]{{{d - 1},15}}");
                break;
            }
            if (a <= b)
                parts.Add(Same(a.ToString(CultureInfo.InvariantCulture), b.ToString(CultureInfo.InvariantCulture)));
        }
        return string.Join(" | ", parts);
    }

    /// <summary>The numbers from <paramref name="x"/> to <paramref name="y"/>, both with the same number of digits.</summary>
    private static string Same(string x, string y)
    {
        if (x.Length == 0)
            return "\"\"";
        if (x == y)
            return $"\"{x}\"";
        if (x[0] == y[0])
            return $"\"{x[0]}\" ( {Same(x[1..], y[1..])} )";
        var rest = x.Length - 1;
        var anyRest = rest == 0 ? "" : $" [0-9]{{{rest}}}";
        if (x[1..].All(c => c == '0') && y[1..].All(c => c == '9'))
            return $"[{x[0]}-{y[0]}]{anyRest}";
        var b = new StringBuilder();
        b.Append($"\"{x[0]}\" ( {Same(x[1..], new string('9', rest))} )");
        if (x[0] + 1 <= y[0] - 1)
            b.Append($" | [{(char)(x[0] + 1)}-{(char)(y[0] - 1)}]{anyRest}");
        b.Append($" | \"{y[0]}\" ( {Same(new string('0', rest), y[1..])} )");
        return b.ToString();
    }

    private static int Digits(long n) => n.ToString(CultureInfo.InvariantCulture).Length;

    private static long Pow10(int n)
    {
        long p = 1;
        for (var i = 0; i < n; i++)
            p *= 10;
        return p;
    }
}
