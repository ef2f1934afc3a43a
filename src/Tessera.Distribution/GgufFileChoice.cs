using System.Text.RegularExpressions;
using Tessera.Engine.Gguf;

namespace Tessera.Distribution;

/// <summary>
/// Which GGUF model of a repository a tag names, from the repository's file list alone (pure: no I/O). A model is one
/// <c>.gguf</c> file or one split set (<c>NAME-00001-of-0000N.gguf</c>, all parts together); vision projectors
/// (<c>mmproj</c>) are not models. A tag matches a model whose quantization (read from its name: <c>Q4_K_M</c>,
/// <c>IQ4_XS</c>, <c>F16</c>, ...) equals it, case-insensitively, else one whose name holds it as a word; a single file is
/// preferred to a split set of the same quantization. Without a tag, a repository with one model gives it, and one with
/// several its Q4_K_M model, the default llama.cpp uses. No match, or a tie, is an error listing what there is.
/// </summary>
public static partial class GgufFileChoice
{
    /// <summary>The quantization chosen when none is named and the repository holds several models (as llama.cpp).</summary>
    public const string DefaultTag = "Q4_K_M";

    /// <summary>One model of the repository: its files (one, or a split set's parts in order) and its quantization, when the name tells.</summary>
    public sealed record Model(IReadOnlyList<string> Files, string? Quantization)
    {
        public string Name => Files[0];

        public bool IsSplit => Files.Count > 1;
    }

    /// <summary>The files of the model <paramref name="tag"/> names among <paramref name="repositoryFiles"/>.</summary>
    /// <param name="shownAs">The reference as the user wrote it, for messages.</param>
    /// <exception cref="HuggingFaceException">No model matches, or several do; the message lists the models there are.</exception>
    public static Model Choose(IEnumerable<string> repositoryFiles, string? tag, string shownAs)
    {
        ArgumentNullException.ThrowIfNull(repositoryFiles);
        var models = Models(repositoryFiles);
        if (models.Count == 0)
            throw new HuggingFaceException($"{shownAs}: the repository holds no GGUF model file.");
        if (tag is null && models.Count == 1)
            return models[0];
        var wanted = tag ?? DefaultTag;
        var matches = models.Where(m => string.Equals(m.Quantization, wanted, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matches.Count == 0)
            matches = models.Where(m => HoldsWord(Stem(m.Name), wanted)).ToList();
        if (matches.Count > 1 && matches.Count(m => !m.IsSplit) == 1)
            matches = matches.Where(m => !m.IsSplit).ToList();
        var available = string.Join(", ", models.Select(m => m.Quantization ?? m.Name).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase));
        return matches.Count switch
        {
            1 => matches[0],
            0 when tag is null => throw new HuggingFaceException(
                $"{shownAs}: the repository holds {models.Count} GGUF models and none is {DefaultTag}, the default; name one with a tag, e.g. {WithTag(shownAs, models[0].Quantization ?? "TAG")} (there are: {available})."),
            0 => throw new HuggingFaceException($"{shownAs}: no GGUF model of the repository is {tag}; there are: {available}."),
            _ => throw new HuggingFaceException(
                $"{shownAs}: {matches.Count} GGUF models match {wanted} ({string.Join(", ", matches.Select(m => m.Name))}); name the file instead, e.g. {WithFile(shownAs, matches[0].Name)}."),
        };
    }

    /// <summary>The models among <paramref name="repositoryFiles"/>: single files and split sets, in name order.</summary>
    public static IReadOnlyList<Model> Models(IEnumerable<string> repositoryFiles)
    {
        var singles = new List<Model>();
        var sets = new Dictionary<(string Prefix, int Count), GgufSplitName>();
        foreach (var file in repositoryFiles.Distinct(StringComparer.Ordinal))
        {
            if (!file.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || FileName(file).Contains("mmproj", StringComparison.OrdinalIgnoreCase))
                continue;
            if (GgufSplitName.TryParse(file, out var split) && split.Count > 1)
                sets.TryAdd((split.Prefix, split.Count), split);
            else
                singles.Add(new Model([file], Quantization(file)));
        }
        return singles.Concat(sets.Values.Select(s => new Model(s.AllParts(), Quantization(s.PartName(1)))))
            .OrderBy(m => m.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>The quantization a model file's name carries (<c>tinyllama.Q4_K_M.gguf</c>: Q4_K_M), upper-cased, or null.</summary>
    public static string? Quantization(string file)
    {
        var matches = QuantizationPattern().Matches(Stem(file));
        return matches.Count == 0 ? null : matches[^1].Value.ToUpperInvariant();
    }

    /// <summary>The file name without folder, split suffix and extension.</summary>
    private static string Stem(string file)
    {
        var name = FileName(file);
        if (GgufSplitName.TryParse(name, out var split))
            return split.Prefix;
        return name.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) ? name[..^5] : name;
    }

    private static string FileName(string path) => path[(path.LastIndexOf('/') + 1)..];

    /// <summary>Whether <paramref name="word"/> is in <paramref name="text"/> with no letter or digit before it, and none, nor '_', after.</summary>
    private static bool HoldsWord(string text, string word)
    {
        for (var i = text.IndexOf(word, StringComparison.OrdinalIgnoreCase); i >= 0; i = text.IndexOf(word, i + 1, StringComparison.OrdinalIgnoreCase))
        {
            var end = i + word.Length;
            if ((i == 0 || !char.IsAsciiLetterOrDigit(text[i - 1])) && (end == text.Length || !(char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_')))
                return true;
        }
        return false;
    }

    private static string WithTag(string shownAs, string tag) => $"{StripTag(shownAs)}:{tag}";

    private static string WithFile(string shownAs, string file) => $"{StripTag(shownAs)}/{file}";

    private static string StripTag(string shownAs)
    {
        var slash = shownAs.LastIndexOf('/');
        var colon = shownAs.IndexOf(':', Math.Max(slash, 0));
        return colon > slash && slash >= 0 ? shownAs[..colon] : shownAs;
    }

    /// <summary>ggml's quantization names as model files carry them (Unsloth's dynamic ones with their UD- prefix).</summary>
    [GeneratedRegex(@"(?<![A-Za-z0-9])(?:UD-)?(?:I?Q[1-8](?:_[A-Z0-9]+)*|TQ[12]_0|BF16|FP16|FP32|F16|F32|MXFP4(?:_MOE)?)(?![A-Za-z0-9])",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex QuantizationPattern();
}
