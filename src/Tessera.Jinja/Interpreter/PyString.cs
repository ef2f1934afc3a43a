using System.Text;

namespace Tessera.Jinja;

/// <summary>Strings as Python sees them: sequences of code points, not UTF-16 units.</summary>
internal static class PyString
{
    public static bool HasSurrogates(string s)
    {
        foreach (var c in s)
        {
            if (char.IsSurrogate(c))
                return true;
        }
        return false;
    }

    public static long Length(string s)
    {
        if (!HasSurrogates(s))
            return s.Length;
        var count = 0L;
        foreach (var _ in s.EnumerateRunes())
            count++;
        return count;
    }

    /// <summary>The code points of <paramref name="s"/>, each as a string.</summary>
    public static List<object?> Characters(string s)
    {
        var result = new List<object?>(s.Length);
        if (!HasSurrogates(s))
        {
            foreach (var c in s)
                result.Add(c.ToString());
            return result;
        }
        foreach (var rune in s.EnumerateRunes())
            result.Add(rune.ToString());
        return result;
    }

    public static string Reverse(string s)
    {
        var characters = Characters(s);
        var sb = new StringBuilder(s.Length);
        for (var i = characters.Count - 1; i >= 0; i--)
            sb.Append((string)characters[i]!);
        return sb.ToString();
    }

    /// <summary>Python's <c>str.title()</c>: upper-case the first letter of each run of letters, lower-case the rest.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var previousCased = false;
        foreach (var c in s)
        {
            if (char.IsLetter(c))
            {
                sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
                previousCased = true;
            }
            else
            {
                sb.Append(c);
                previousCased = false;
            }
        }
        return sb.ToString();
    }

    /// <summary>Python's <c>str.capitalize()</c>.</summary>
    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    public static string Strip(string s, string? chars, bool left, bool right)
    {
        if (chars == null)
        {
            if (left && right)
                return s.Trim();
            return left ? s.TrimStart() : s.TrimEnd();
        }
        var set = chars.ToCharArray();
        if (left && right)
            return s.Trim(set);
        return left ? s.TrimStart(set) : s.TrimEnd(set);
    }

    /// <summary>Python's <c>str.split(sep, maxsplit)</c>; a null separator splits on runs of whitespace.</summary>
    public static List<object?> Split(string s, string? separator, long maxSplit)
    {
        var result = new List<object?>();
        if (separator == null)
        {
            var i = 0;
            while (i < s.Length)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i]))
                    i++;
                if (i >= s.Length)
                    break;
                if (maxSplit >= 0 && result.Count == maxSplit)
                {
                    result.Add(s[i..].TrimEnd());
                    break;
                }
                var start = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i]))
                    i++;
                result.Add(s[start..i]);
            }
            return result;
        }
        if (separator.Length == 0)
            throw new JinjaRuntimeError("split() separator cannot be empty");
        var parts = maxSplit < 0 ? s.Split(separator) : s.Split(separator, (int)Math.Min(maxSplit + 1, int.MaxValue));
        result.AddRange(parts);
        return result;
    }

    /// <summary>Python's <c>str.splitlines()</c> for \n, \r\n and \r.</summary>
    public static List<string> SplitLines(string s)
    {
        var lines = new List<string>();
        var start = 0;
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\n' || s[i] == '\r')
            {
                lines.Add(s[start..i]);
                if (s[i] == '\r' && i + 1 < s.Length && s[i + 1] == '\n')
                    i++;
                start = i + 1;
            }
        }
        if (start < s.Length)
            lines.Add(s[start..]);
        return lines;
    }
}
