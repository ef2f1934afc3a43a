using System.Text.Json;

namespace Tessera.Distribution;

/// <summary>Reads the hub's description of a model repository (<c>GET /api/models/{owner}/{repo}</c>). Pure.</summary>
internal static class HubModelInfo
{
    /// <summary>The repository's file paths: <c>siblings[].rfilename</c>.</summary>
    /// <exception cref="HuggingFaceException">The body is not such a description.</exception>
    public static IReadOnlyList<string> Files(ReadOnlySpan<byte> json, string shownAs)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("siblings", out var siblings)
                || siblings.ValueKind != JsonValueKind.Array)
                throw new HuggingFaceException($"{shownAs}: the hub's description of the repository lists no files (no 'siblings').");
            return siblings.EnumerateArray()
                .Select(s => s.ValueKind == JsonValueKind.Object && s.TryGetProperty("rfilename", out var name) && name.ValueKind == JsonValueKind.String ? name.GetString() : null)
                .OfType<string>().ToList();
        }
        catch (JsonException e)
        {
            throw new HuggingFaceException($"{shownAs}: the hub's description of the repository is not JSON ({e.Message}).", inner: e);
        }
    }
}
