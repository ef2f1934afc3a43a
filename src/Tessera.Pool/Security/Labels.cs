using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tessera.Pool.Security;

/// <summary>Labels of nodes (given by the token that admitted them): <c>key=value</c> pairs, stored as a JSON object.</summary>
public static partial class Labels
{
    public const int MaxCount = 16;

    private static readonly IReadOnlyDictionary<string, string> None = new Dictionary<string, string>();

    [GeneratedRegex("^[a-z0-9]([a-z0-9._/-]{0,62}[a-z0-9])?$")]
    private static partial Regex KeyPattern();

    [GeneratedRegex("^[A-Za-z0-9._:/-]{0,128}$")]
    private static partial Regex ValuePattern();

    /// <summary>Parses <c>key=value</c> items (as <c>--label</c> gives them); throws <see cref="PoolException"/> naming a bad one.</summary>
    public static IReadOnlyDictionary<string, string> Parse(IEnumerable<string> items)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var eq = item.IndexOf('=', StringComparison.Ordinal);
            var (key, value) = eq < 0 ? (item.Trim(), string.Empty) : (item[..eq].Trim(), item[(eq + 1)..].Trim());
            labels[key] = value;
        }
        Validate(labels);
        return labels;
    }

    /// <summary>Throws <see cref="PoolException"/> (exit code 2) when a key or value has characters labels may not hold, or there are too many.</summary>
    public static void Validate(IReadOnlyDictionary<string, string>? labels)
    {
        if (labels is null)
            return;
        if (labels.Count > MaxCount)
            throw new PoolException($"A token may give at most {MaxCount} labels, got {labels.Count}.", exitCode: 2);
        foreach (var (key, value) in labels)
        {
            if (!KeyPattern().IsMatch(key))
                throw new PoolException($"'{key}' is not a label key: use lower-case letters, digits, '.', '_', '/' or '-' (at most 64), e.g. site=lab or gpu=rtx4090.", exitCode: 2);
            if (!ValuePattern().IsMatch(value))
                throw new PoolException($"The value of label '{key}' may hold letters, digits, '.', '_', ':', '/' or '-' only (at most 128).", exitCode: 2);
        }
    }

    public static string ToJson(IReadOnlyDictionary<string, string>? labels) => JsonSerializer.Serialize(labels ?? None);

    public static IReadOnlyDictionary<string, string> FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? new Dictionary<string, string>();
        }
        catch (JsonException)
        {
            return None;
        }
    }
}
