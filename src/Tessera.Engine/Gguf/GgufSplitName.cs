using System.Globalization;
using System.Text.RegularExpressions;

namespace Tessera.Engine.Gguf;

/// <summary>
/// The name llama.cpp's gguf-split gives each part of a split model, <c>PREFIX-00001-of-00003.gguf</c>: the part's
/// number and the count, five digits each, one-based. Pure: it reads and makes names and touches no file. The one
/// owner of the pattern, so the loader, the download of a split set and the listing of models agree on what a part is.
/// </summary>
/// <param name="Prefix">Everything before <c>-NNNNN-of-NNNNN.gguf</c>, folder included when the name was a path.</param>
public readonly partial record struct GgufSplitName(string Prefix, int Number, int Count)
{
    /// <summary>gguf-split's limit, and what five digits hold.</summary>
    public const int MaxParts = 99999;

    /// <summary>Reads a path or file name; false when it does not end the way a part's name does.</summary>
    public static bool TryParse(string? path, out GgufSplitName name)
    {
        name = default;
        if (path is null)
            return false;
        var match = Pattern().Match(path);
        if (!match.Success)
            return false;
        var number = int.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
        var count = int.Parse(match.Groups["count"].Value, CultureInfo.InvariantCulture);
        if (number < 1 || count < 1 || number > count)
            return false;
        name = new GgufSplitName(path[..match.Index], number, count);
        return true;
    }

    /// <summary>The name of part <paramref name="number"/> (one-based) of the same set.</summary>
    public string PartName(int number)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(number, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(number, Count);
        return string.Create(CultureInfo.InvariantCulture, $"{Prefix}-{number:D5}-of-{Count:D5}.gguf");
    }

    /// <summary>Every part's name, in order.</summary>
    public IReadOnlyList<string> AllParts() => Enumerable.Range(1, Count).Select(PartName).ToList();

    [GeneratedRegex(@"-(?<n>\d{5})-of-(?<count>\d{5})\.gguf$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
