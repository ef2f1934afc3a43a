using System.Globalization;
using System.Text;

namespace Tessera.Distribution;

/// <summary>
/// The rules an hf:// reference's parts must follow, applied to their unescaped values (what the hub and any local
/// path would see): owner and repository as Hugging Face names them (huggingface_hub's <c>validate_repo_id</c>),
/// a revision as git names branches, tags and <c>refs/pr/N</c>, and file path segments that can only name a file
/// inside the repository. Each check answers the problem in words, or null when the part is valid. Without them a
/// reference could climb out of the repository (<c>..</c>, <c>%2e%2e</c>, <c>%2F</c>), carry a host or scheme, or
/// smuggle control characters into URLs, logs and messages.
/// </summary>
internal static class HuggingFaceNames
{
    /// <summary>Longest owner or repository name the hub accepts.</summary>
    public const int MaxNameLength = 96;

    /// <summary>Longest revision accepted (git's own limit on a ref name is the file system's, 255 bytes a segment).</summary>
    public const int MaxRevisionLength = 255;

    /// <summary>Characters no revision or file path segment may hold, even once escaped: separators and URL syntax.</summary>
    private const string Forbidden = "\\:%?#";

    /// <summary>The problem with an owner or repository name, or null.</summary>
    public static string? CheckName(string value)
    {
        if (value.Length == 0)
            return "is empty";
        if (value.Length > MaxNameLength)
            return $"is longer than the {MaxNameLength} characters Hugging Face allows";
        foreach (var c in value)
        {
            if (!IsNameChar(c))
                return $"holds {Describe(c)}; names may contain only ASCII letters, digits, '-', '_' and '.'";
        }
        if (!IsWordChar(value[0]) || !IsWordChar(value[^1]))
            return "must start and end with a letter, a digit or '_'";
        if (value.Contains("--", StringComparison.Ordinal) || value.Contains("..", StringComparison.Ordinal))
            return "holds '--' or '..', which Hugging Face names never do";
        return null;
    }

    /// <summary>Longest quantization tag accepted (<c>UD-Q4_K_XL</c> is 10).</summary>
    public const int MaxTagLength = 64;

    /// <summary>The problem with a quantization tag (<c>Q4_K_M</c>, <c>IQ4_XS</c>, <c>F16</c>), or null.</summary>
    public static string? CheckTag(string value)
    {
        if (value.Length == 0)
            return "is empty";
        if (value.Length > MaxTagLength)
            return $"is longer than {MaxTagLength} characters";
        foreach (var c in value)
        {
            if (!IsNameChar(c))
                return $"holds {Describe(c)}; a tag names a quantization with ASCII letters, digits, '-', '_' and '.' (e.g. Q4_K_M)";
        }
        return null;
    }

    /// <summary>The problem with a revision (branch, tag, commit or refs/pr/N), or null.</summary>
    public static string? CheckRevision(string value)
    {
        if (value.Length == 0)
            return "is empty";
        if (value.Length > MaxRevisionLength)
            return $"is longer than {MaxRevisionLength} characters";
        if (value.Contains("..", StringComparison.Ordinal))
            return "holds '..', which no branch, tag or commit does";
        foreach (var c in value)
        {
            if (char.IsWhiteSpace(c) || IsInvisible(c) || Forbidden.Contains(c, StringComparison.Ordinal))
                return $"holds {Describe(c)}";
        }
        foreach (var segment in value.Split('/'))
        {
            if (segment.Length == 0)
                return "has an empty part (a leading, trailing or doubled '/')";
            if (segment[0] == '.')
                return $"has a part '{segment}' that starts with '.'";
        }
        return null;
    }

    /// <summary>The problem with one segment of the file path (between two '/'), or null.</summary>
    public static string? CheckPathSegment(string value)
    {
        if (value.Length == 0)
            return "is empty (a leading, trailing or doubled '/')";
        if (value is "." or "..")
            return $"is '{value}', which would leave the repository's folder";
        foreach (var c in value)
        {
            if (c == '/')
                return "holds a '/' once unescaped (%2F); write path separators as plain '/'";
            if (IsInvisible(c) || Forbidden.Contains(c, StringComparison.Ordinal))
                return $"holds {Describe(c)}";
        }
        return null;
    }

    /// <summary>
    /// Decodes percent-escapes (UTF-8, as in URLs). False with a problem when an escape is malformed, so that what is
    /// checked is exactly what the hub would decode; a '%' that survives (an escape that is not UTF-8 text, or one
    /// escaped twice) is refused by the checks above.
    /// </summary>
    public static bool TryUnescape(string raw, out string value, out string problem)
    {
        for (var i = raw.IndexOf('%'); i >= 0; i = raw.IndexOf('%', i + 1))
        {
            if (i + 2 >= raw.Length || !char.IsAsciiHexDigit(raw[i + 1]) || !char.IsAsciiHexDigit(raw[i + 2]))
            {
                value = raw;
                problem = $"has a malformed percent-escape at '{Show(raw[i..Math.Min(raw.Length, i + 3)])}' (write '%' as %25)";
                return false;
            }
        }
        value = Uri.UnescapeDataString(raw);
        problem = "";
        return true;
    }

    /// <summary>Text for a message: control and invisible characters escaped, long text cut short.</summary>
    public static string Show(string? text, int maxLength = 120)
    {
        if (text is null)
            return "";
        var sb = new StringBuilder(Math.Min(text.Length, maxLength) + 8);
        foreach (var c in text)
        {
            if (sb.Length >= maxLength)
            {
                sb.Append('…');
                break;
            }
            if (IsInvisible(c))
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            else
                sb.Append(c);
        }
        return sb.ToString();
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.';

    private static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    /// <summary>Control characters and invisible formatting ones (bidirectional overrides, zero-width characters).</summary>
    private static bool IsInvisible(char c) => char.IsControl(c) || char.GetUnicodeCategory(c) == UnicodeCategory.Format;

    private static string Describe(char c) => c switch
    {
        '\\' => "a backslash",
        '/' => "a '/'",
        ' ' => "a space",
        _ when IsInvisible(c) || char.IsWhiteSpace(c) => $"the character U+{(int)c:X4}",
        _ => $"the character '{c}'",
    };
}
