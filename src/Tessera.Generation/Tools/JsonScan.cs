using System.Text.Json;

namespace Tessera.Generation.Tools;

/// <summary>Reads one JSON object or array from the middle of a model's reply, where text may follow it.</summary>
internal static class JsonScan
{
    /// <summary>
    /// The object or array starting at <paramref name="pos"/> (after whitespace), advancing past it; null when there is
    /// none or it is not valid JSON (a reply cut short, a model's typo), leaving <paramref name="pos"/> as it was.
    /// </summary>
    public static JsonElement? Read(string text, ref int pos)
    {
        var start = SkipSpace(text, pos);
        if (start >= text.Length || text[start] is not ('{' or '['))
            return null;
        var end = FindEnd(text, start);
        if (end < 0)
            return null;
        try
        {
            using var document = JsonDocument.Parse(text.AsMemory(start, end - start));
            pos = end;
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static int SkipSpace(string text, int pos)
    {
        while (pos < text.Length && char.IsWhiteSpace(text[pos]))
            pos++;
        return pos;
    }

    /// <summary>Whether <paramref name="text"/> holds <paramref name="literal"/> at <paramref name="pos"/> (after whitespace); if so, advances past it.</summary>
    public static bool Skip(string text, ref int pos, string literal)
    {
        var at = SkipSpace(text, pos);
        if (!text.AsSpan(at).StartsWith(literal, StringComparison.Ordinal))
            return false;
        pos = at + literal.Length;
        return true;
    }

    /// <summary>The end (exclusive) of the bracketed value at <paramref name="start"/>, counting brackets outside strings; -1 when it does not close.</summary>
    private static int FindEnd(string text, int start)
    {
        var depth = 0;
        var inString = false;
        for (var i = start; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (c == '\\')
                    i++;
                else if (c == '"')
                    inString = false;
                continue;
            }
            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '{' or '[':
                    depth++;
                    break;
                case '}' or ']':
                    if (--depth == 0)
                        return i + 1;
                    break;
            }
        }
        return -1;
    }
}
