namespace Tessera.Distribution;

/// <summary>
/// A file in a Hugging Face model repository: <c>hf://owner/repo/path/file.gguf</c>, with an optional revision
/// (branch, tag or commit) as <c>hf://owner/repo@revision/path/file.gguf</c> (huggingface_hub's form) or
/// <c>hf://owner/repo/path/file.gguf@revision</c>. The revision defaults to <c>main</c>.
/// </summary>
public sealed record HuggingFaceUri(string Owner, string Repository, string FilePath, string Revision)
{
    public const string Scheme = "hf://";
    public const string DefaultRevision = "main";

    public string RepoId => $"{Owner}/{Repository}";

    public static bool IsHuggingFace(string? text) => text is not null && text.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase);

    public static HuggingFaceUri Parse(string text) =>
        TryParse(text, out var uri, out var error) ? uri : throw new FormatException(error);

    public static bool TryParse(string? text, out HuggingFaceUri uri, out string error)
    {
        uri = null!;
        const string example = "expected hf://owner/repo/file.gguf (optionally hf://owner/repo@revision/file.gguf)";
        if (!IsHuggingFace(text))
        {
            error = $"'{text}' is not an hf:// address; {example}.";
            return false;
        }
        var rest = text![Scheme.Length..];
        var parts = rest.Split('/');
        if (parts.Length < 3 || parts.Any(p => p.Length == 0 || p is "." or ".."))
        {
            error = $"'{text}' is not a file in a Hugging Face repository; {example}.";
            return false;
        }
        var owner = parts[0];
        var repo = parts[1];
        string? revision = null;
        var at = repo.IndexOf('@');
        if (at >= 0)
        {
            revision = Uri.UnescapeDataString(repo[(at + 1)..]);
            repo = repo[..at];
        }
        var fileParts = parts[2..];
        var last = fileParts[^1];
        var lastAt = last.LastIndexOf('@');
        if (revision is null && lastAt > 0)
        {
            revision = Uri.UnescapeDataString(last[(lastAt + 1)..]);
            fileParts[^1] = last[..lastAt];
        }
        if (owner.Length == 0 || repo.Length == 0 || revision is { Length: 0 } || fileParts[^1].Length == 0)
        {
            error = $"'{text}' is incomplete; {example}.";
            return false;
        }
        uri = new HuggingFaceUri(owner, repo, string.Join('/', fileParts), revision ?? DefaultRevision);
        error = "";
        return true;
    }

    /// <summary><c>{endpoint}/{owner}/{repo}/resolve/{revision}/{path}</c>, each part escaped.</summary>
    public Uri ResolveUrl(Uri endpoint)
    {
        var root = endpoint.AbsoluteUri.TrimEnd('/');
        var path = string.Join('/', FilePath.Split('/').Select(Uri.EscapeDataString));
        return new Uri($"{root}/{Uri.EscapeDataString(Owner)}/{Uri.EscapeDataString(Repository)}/resolve/{Uri.EscapeDataString(Revision)}/{path}");
    }

    public override string ToString() =>
        Revision == DefaultRevision ? $"{Scheme}{Owner}/{Repository}/{FilePath}" : $"{Scheme}{Owner}/{Repository}@{Revision}/{FilePath}";
}
