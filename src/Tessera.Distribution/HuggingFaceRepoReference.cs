namespace Tessera.Distribution;

/// <summary>
/// A model repository on Hugging Face rather than one of its files: <c>hf://owner/repo:TAG</c> names the GGUF file (or
/// split set) of quantization TAG in it, as llama.cpp's <c>-hf owner/repo:Q4_K_M</c> and Ollama's <c>hf.co/owner/repo:TAG</c>
/// do; <c>hf://owner/repo</c> without a tag the repository's only GGUF model, else its Q4_K_M one
/// (<see cref="GgufFileChoice"/>). A revision goes after the repository: <c>hf://owner/repo@revision:TAG</c>. Every part
/// is checked as <see cref="HuggingFaceUri"/> checks its own (a ':' can be in no owner, repository or revision, so the
/// tag is never ambiguous).
/// </summary>
public sealed record HuggingFaceRepoReference(string Owner, string Repository, string Revision, string? Tag)
{
    internal const string Example =
        "a model repository with a quantization tag looks like hf://owner/repo:Q4_K_M or hf://owner/repo@revision:Q4_K_M";

    public string RepoId => $"{Owner}/{Repository}";

    /// <summary>Whether <paramref name="text"/> is an hf:// reference that names a repository (owner and repository, no file path).</summary>
    public static bool IsRepoReference(string? text) =>
        HuggingFaceUri.IsHuggingFace(text) && text![HuggingFaceUri.Scheme.Length..].TrimEnd('/').Count(c => c == '/') == 1;

    /// <summary>
    /// Whether <paramref name="text"/> is a valid hf:// model reference of either form: a repository (with an optional
    /// tag) or a file (<see cref="HuggingFaceUri"/>); <paramref name="error"/> says what is wrong when not.
    /// </summary>
    public static bool IsValidModelReference(string text, out string error) =>
        IsRepoReference(text) ? TryParse(text, out _, out error) : HuggingFaceUri.TryParse(text, out _, out error);

    /// <exception cref="FormatException">The text is not a valid repository reference; the message says what is wrong.</exception>
    public static HuggingFaceRepoReference Parse(string text) =>
        TryParse(text, out var reference, out var error) ? reference : throw new FormatException(error);

    public static bool TryParse(string? text, out HuggingFaceRepoReference reference, out string error)
    {
        reference = null!;
        if (!IsRepoReference(text))
        {
            error = Explain(text, "it is not hf://owner/repo with an optional @revision and :TAG");
            return false;
        }
        var parts = text![HuggingFaceUri.Scheme.Length..].TrimEnd('/').Split('/');
        var repo = parts[1];
        string? tag = null;
        string? revision = null;
        var colon = repo.IndexOf(':');
        if (colon >= 0)
        {
            tag = repo[(colon + 1)..];
            repo = repo[..colon];
        }
        var at = repo.IndexOf('@');
        if (at >= 0)
        {
            revision = repo[(at + 1)..];
            repo = repo[..at];
        }
        string problem;
        if (!HuggingFaceUri.TryPart("the owner", parts[0], HuggingFaceNames.CheckName, out var owner, out problem)
            || !HuggingFaceUri.TryPart("the repository", repo, HuggingFaceNames.CheckName, out repo, out problem)
            || (revision is not null && !HuggingFaceUri.TryPart("the revision", revision, HuggingFaceNames.CheckRevision, out revision, out problem))
            || (tag is not null && !HuggingFaceUri.TryPart("the tag", tag, HuggingFaceNames.CheckTag, out tag, out problem)))
        {
            error = Explain(text, problem);
            return false;
        }
        reference = new HuggingFaceRepoReference(owner, repo, revision ?? HuggingFaceUri.DefaultRevision, tag);
        error = "";
        return true;
    }

    /// <summary>Its folder in a content store's <see cref="ContentStore.NameDirectory"/> (see <see cref="HuggingFaceUri.StoreName"/>).</summary>
    public string StoreFolder => $"{Owner}/{Repository}/{Uri.EscapeDataString(Revision)}";

    /// <summary>A file of this repository at this revision.</summary>
    public HuggingFaceUri File(string path) => new(Owner, Repository, path, Revision);

    /// <summary>
    /// <c>{endpoint}/api/models/{owner}/{repo}</c> (at another revision than main, <c>.../revision/{revision}</c>): the
    /// hub's description of the repository, whose <c>siblings</c> list its files.
    /// </summary>
    public Uri ApiUrl(Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var root = endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/');
        var revision = Revision == HuggingFaceUri.DefaultRevision ? "" : "/revision/" + Uri.EscapeDataString(Revision);
        return new Uri($"{root}/api/models/{Uri.EscapeDataString(Owner)}/{Uri.EscapeDataString(Repository)}{revision}");
    }

    public override string ToString() =>
        $"{HuggingFaceUri.Scheme}{Owner}/{Repository}{(Revision == HuggingFaceUri.DefaultRevision ? "" : "@" + Revision)}{(Tag is null ? "" : ":" + Tag)}";

    private static string Explain(string? text, string problem) =>
        $"'{HuggingFaceNames.Show(text)}' is not a valid Hugging Face model reference: {problem}; {Example}.";
}
