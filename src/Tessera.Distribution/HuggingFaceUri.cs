namespace Tessera.Distribution;

/// <summary>
/// A file in a Hugging Face model repository: <c>hf://owner/repo/path/file.gguf</c>, with an optional revision
/// (branch, tag or commit) as <c>hf://owner/repo@revision/path/file.gguf</c> (huggingface_hub's form) or
/// <c>hf://owner/repo/path/file.gguf@revision</c>. The revision defaults to <c>main</c>. Percent-escapes are decoded
/// in every part (a '/' inside a revision is written <c>%2F</c>), and every part is checked on its decoded value
/// (<see cref="HuggingFaceNames"/>), so a reference names one file inside one repository of the configured hub and
/// nothing else: no <c>..</c>, no empty segments, no backslashes, control characters, hosts or schemes.
/// </summary>
public sealed record HuggingFaceUri(string Owner, string Repository, string FilePath, string Revision)
{
    public const string Scheme = "hf://";
    public const string DefaultRevision = "main";

    /// <summary>What a valid reference looks like, ending every parse error.</summary>
    internal const string Example =
        "a valid reference looks like hf://owner/repo/file.gguf or hf://owner/repo@revision/path/to/file.gguf (revision: a branch, tag or commit)";

    public string RepoId => $"{Owner}/{Repository}";

    public static bool IsHuggingFace(string? text) => text is not null && text.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase);

    /// <exception cref="FormatException">The text is not a valid reference; the message says what is wrong.</exception>
    public static HuggingFaceUri Parse(string text) =>
        TryParse(text, out var uri, out var error) ? uri : throw new FormatException(error);

    public static bool TryParse(string? text, out HuggingFaceUri uri, out string error)
    {
        uri = null!;
        if (!IsHuggingFace(text))
        {
            error = Explain(text, "it does not start with hf://");
            return false;
        }
        var parts = text![Scheme.Length..].Split('/');
        if (parts.Length < 3)
        {
            error = Explain(text, "it names no file: an owner, a repository and a file path are all needed");
            return false;
        }
        var repo = parts[1];
        string? revision = null;
        var at = repo.IndexOf('@');
        if (at >= 0)
        {
            revision = repo[(at + 1)..];
            repo = repo[..at];
        }
        var fileParts = parts[2..];
        var last = fileParts[^1];
        var lastAt = last.LastIndexOf('@');
        if (revision is null && lastAt > 0)
        {
            revision = last[(lastAt + 1)..];
            fileParts[^1] = last[..lastAt];
        }

        if (!TryPart("the owner", parts[0], HuggingFaceNames.CheckName, out var owner, out var problem)
            || !TryPart("the repository", repo, HuggingFaceNames.CheckName, out repo, out problem)
            || (revision is not null && !TryPart("the revision", revision, HuggingFaceNames.CheckRevision, out revision, out problem)))
        {
            error = Explain(text, problem);
            return false;
        }
        for (var i = 0; i < fileParts.Length; i++)
        {
            if (!TryPart($"part {i + 1} of the file path", fileParts[i], HuggingFaceNames.CheckPathSegment, out fileParts[i], out problem))
            {
                error = Explain(text, problem);
                return false;
            }
        }
        uri = new HuggingFaceUri(owner, repo, string.Join('/', fileParts), revision ?? DefaultRevision);
        error = "";
        return true;
    }

    /// <summary>
    /// Checks the parts of a reference made without <see cref="Parse"/> (they are taken as already unescaped).
    /// </summary>
    /// <exception cref="FormatException">A part breaks the rules <see cref="Parse"/> applies.</exception>
    public void Validate()
    {
        var problem = Problem("the owner", Owner, HuggingFaceNames.CheckName)
            ?? Problem("the repository", Repository, HuggingFaceNames.CheckName)
            ?? Problem("the revision", Revision, HuggingFaceNames.CheckRevision);
        var segments = (FilePath ?? "").Split('/');
        for (var i = 0; problem is null && i < segments.Length; i++)
            problem = Problem($"part {i + 1} of the file path", segments[i], HuggingFaceNames.CheckPathSegment);
        if (problem is not null)
            throw new FormatException(Explain(ToString(), problem));
    }

    /// <summary>
    /// <c>{endpoint}/{owner}/{repo}/resolve/{revision}/{path}</c>, each part escaped. The parts are checked first and
    /// the address is checked to be under <paramref name="endpoint"/>, one segment per part, so whatever a reference
    /// holds, the request goes to the configured hub and to the file it names.
    /// </summary>
    /// <exception cref="FormatException">A part is not valid, or the address would leave the endpoint.</exception>
    public Uri ResolveUrl(Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        Validate();
        var root = endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/');
        var path = FilePath.Split('/');
        var url = new Uri($"{root}/{Uri.EscapeDataString(Owner)}/{Uri.EscapeDataString(Repository)}/resolve/{Uri.EscapeDataString(Revision)}/"
            + string.Join('/', path.Select(Uri.EscapeDataString)));
        var rootUrl = new Uri(root + "/");
        var expectedSegments = rootUrl.Segments.Length + 4 + path.Length;
        if (!string.Equals(url.GetLeftPart(UriPartial.Authority), rootUrl.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase)
            || !url.AbsolutePath.StartsWith(rootUrl.AbsolutePath, StringComparison.Ordinal)
            || url.Segments.Length != expectedSegments || url.Query.Length != 0 || url.Fragment.Length != 0)
            throw new FormatException(Explain(ToString(), $"its address {url} would not be a file under {rootUrl}"));
        return url;
    }

    /// <summary>Its name in a content store's <see cref="ContentStore.NameDirectory"/>: <c>OWNER/REPO/REVISION/PATH</c> (the revision escaped).</summary>
    public string StoreName => $"{Owner}/{Repository}/{Uri.EscapeDataString(Revision)}/{FilePath}";

    public override string ToString() =>
        Revision == DefaultRevision ? $"{Scheme}{Owner}/{Repository}/{FilePath}" : $"{Scheme}{Owner}/{Repository}@{Revision}/{FilePath}";

    internal static bool TryPart(string what, string raw, Func<string, string?> check, out string value, out string problem)
    {
        if (!HuggingFaceNames.TryUnescape(raw, out value, out problem))
        {
            problem = $"{what} '{HuggingFaceNames.Show(raw)}' {problem}";
            return false;
        }
        var shown = raw == value ? $"'{HuggingFaceNames.Show(raw)}'" : $"'{HuggingFaceNames.Show(raw)}' (unescaped: '{HuggingFaceNames.Show(value)}')";
        problem = check(value) is { } reason ? $"{what} {shown} {reason}" : "";
        return problem.Length == 0;
    }

    private static string? Problem(string what, string? value, Func<string, string?> check) =>
        check(value ?? "") is { } reason ? $"{what} '{HuggingFaceNames.Show(value)}' {reason}" : null;

    private static string Explain(string? text, string problem) =>
        $"'{HuggingFaceNames.Show(text)}' is not a valid Hugging Face file reference: {problem}; {Example}.";
}
