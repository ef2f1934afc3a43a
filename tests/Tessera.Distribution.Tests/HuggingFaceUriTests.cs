using Tessera.Distribution;

namespace Tessera.Distribution.Tests;

/// <summary>
/// hf:// references are checked on their unescaped parts: whatever a reference holds, it names one file inside one
/// repository of the configured hub, and real names (dots, commits, nested folders) still parse.
/// </summary>
public sealed class HuggingFaceUriTests
{
    private const string ValidShape = "a valid reference looks like hf://owner/repo/file.gguf";

    [Theory]
    // Not a file in a repository at all.
    [InlineData("https://huggingface.co/owner/repo/file.gguf", "it does not start with hf://")]
    [InlineData("hf://owner/repo", "it names no file")]
    // Climbing out of the repository, plain and escaped.
    [InlineData("hf://owner/repo/../file.gguf", "'..'")]
    [InlineData("hf://owner/repo/../../x.gguf", "'..'")]
    [InlineData("hf://owner/repo/sub/../../../x.gguf", "'..'")]
    [InlineData("hf://owner/repo/%2e%2e/%2e%2e/x.gguf", "(unescaped: '..')")]
    [InlineData("hf://owner/repo/sub/%2E%2E/x.gguf", "(unescaped: '..')")]
    [InlineData("hf://owner/repo/./x.gguf", "'.'")]
    [InlineData("hf://owner/repo/..%2Fx.gguf", "%2F")]
    [InlineData("hf://owner/repo/sub%2F..%2F..%2Fx.gguf", "%2F")]
    [InlineData("hf://owner/repo/%252e%252e/x.gguf", "the character '%'")]
    [InlineData("hf://owner/repo/x%2.gguf", "malformed percent-escape")]
    // Empty segments and absolute paths.
    [InlineData("hf://owner/repo//etc/passwd", "is empty")]
    [InlineData("hf://owner/repo/sub//x.gguf", "is empty")]
    [InlineData("hf://owner/repo/x.gguf/", "is empty")]
    [InlineData("hf:///etc/passwd/x.gguf", "the owner '' is empty")]
    [InlineData("hf://owner//x.gguf", "the repository '' is empty")]
    [InlineData("hf://owner/repo/C:/x.gguf", "the character ':'")]
    // Backslashes, control and invisible characters.
    [InlineData("hf://owner/repo/sub\\..\\x.gguf", "a backslash")]
    [InlineData("hf://owner/repo/sub%5C..%5Cx.gguf", "a backslash")]
    [InlineData("hf://owner/repo/x\u0000.gguf", "U+0000")]
    [InlineData("hf://owner/repo/x%00.gguf", "U+0000")]
    [InlineData("hf://owner/repo/x%0d%0aHost:%20evil.gguf", "U+000D")]
    [InlineData("hf://owner/repo/x\n.gguf", "U+000A")]
    [InlineData("hf://owner/repo/model\u202Efuggg.exe", "U+202E")]
    // Hosts, schemes, queries and fragments sneaking in.
    [InlineData("hf://evil.com@owner/repo/x.gguf", "the owner 'evil.com@owner'")]
    [InlineData("hf://owner:pass@evil.com/repo/x.gguf", "the owner")]
    [InlineData("hf://https://evil.com/x.gguf", "the owner 'https:'")]
    [InlineData("hf://owner/repo/http://evil.com/x.gguf", "the character ':'")]
    [InlineData("hf://owner/repo/x.gguf?download=1", "the character '?'")]
    [InlineData("hf://owner/repo/x.gguf%23frag", "the character '#'")]
    [InlineData("hf://%2e%2e/repo/x.gguf", "the owner '%2e%2e' (unescaped: '..')")]
    [InlineData("hf://owner/%2e%2e/x.gguf", "the repository")]
    [InlineData("hf://owner/re%2Fpo/x.gguf", "the repository 're%2Fpo' (unescaped: 're/po')")]
    [InlineData("hf://owner/repo.git%40evil/x.gguf", "the repository")]
    // Revisions that climb or carry control characters.
    [InlineData("hf://owner/repo@../../x/file.gguf", "the revision '..'")]
    [InlineData("hf://owner/repo@%2e%2e%2f%2e%2e/x.gguf", "the revision")]
    [InlineData("hf://owner/repo/x.gguf@..%2F..%2Fmain", "the revision")]
    [InlineData("hf://owner/repo@main%0a/x.gguf", "U+000A")]
    [InlineData("hf://owner/repo@refs%2F%2Fpr/x.gguf", "empty part")]
    [InlineData("hf://owner/repo@/x.gguf", "the revision '' is empty")]
    public void Parse_RefusesReferencesThatCouldLeaveTheRepository(string text, string problem)
    {
        var error = Assert.Throws<FormatException>(() => HuggingFaceUri.Parse(text));

        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Contains(ValidShape, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message); // control characters are shown escaped, never written raw
        Assert.DoesNotContain('\0', error.Message);
    }

    [Theory]
    [InlineData("hf://owner/repo/file.gguf", "owner", "repo", "file.gguf", "main")]
    [InlineData("hf://owner/repo@v2/file.gguf", "owner", "repo", "file.gguf", "v2")]
    [InlineData("hf://owner/repo/file.gguf@abc123", "owner", "repo", "file.gguf", "abc123")]
    [InlineData("hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_0.gguf", "Qwen", "Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q4_0.gguf", "main")]
    [InlineData("hf://TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/tinyllama-1.1b-chat-v1.0.Q4_0.gguf", "TheBloke", "TinyLlama-1.1B-Chat-v1.0-GGUF", "tinyllama-1.1b-chat-v1.0.Q4_0.gguf", "main")]
    [InlineData("hf://acme/Qwen2.5-0.5B@main/sub/dir/model-q4_0.gguf", "acme", "Qwen2.5-0.5B", "sub/dir/model-q4_0.gguf", "main")]
    [InlineData("hf://acme/Qwen2.5-0.5B@0123456789abcdef0123456789abcdef01234567/sub/dir/model-q4_0.gguf", "acme", "Qwen2.5-0.5B", "sub/dir/model-q4_0.gguf", "0123456789abcdef0123456789abcdef01234567")]
    [InlineData("hf://acme/m_1/sub/dir/model-q4_0.gguf@v1.0", "acme", "m_1", "sub/dir/model-q4_0.gguf", "v1.0")]
    [InlineData("hf://acme/m@refs%2Fpr%2F3/model.gguf", "acme", "m", "model.gguf", "refs/pr/3")]
    [InlineData("hf://acme/m@refs%2Fconvert%2Fgguf/model.gguf", "acme", "m", "model.gguf", "refs/convert/gguf")]
    [InlineData("hf://acme/m/a%20b/model%2B1.gguf", "acme", "m", "a b/model+1.gguf", "main")]
    [InlineData("hf://acme/m/dots..inside.gguf", "acme", "m", "dots..inside.gguf", "main")]
    [InlineData("hf://acme/m/.hidden/x.gguf", "acme", "m", ".hidden/x.gguf", "main")]
    public void Parse_AcceptsRealNames_WithDotsCommitsAndNestedFolders(string text, string owner, string repo, string file, string revision)
    {
        var uri = HuggingFaceUri.Parse(text);

        Assert.Equal(new HuggingFaceUri(owner, repo, file, revision), uri);
        uri.Validate(); // what Parse accepts, Validate accepts
    }

    [Theory]
    [InlineData("https://huggingface.co/", "https://huggingface.co/acme/Qwen2.5-0.5B/resolve/main/sub/dir/model-q4_0.gguf")]
    [InlineData("http://127.0.0.1:8080/mirror/hf/", "http://127.0.0.1:8080/mirror/hf/acme/Qwen2.5-0.5B/resolve/main/sub/dir/model-q4_0.gguf")]
    [InlineData("http://127.0.0.1:8080/mirror?x=1", "http://127.0.0.1:8080/mirror/acme/Qwen2.5-0.5B/resolve/main/sub/dir/model-q4_0.gguf")]
    public void ResolveUrl_StaysUnderTheEndpoint(string endpoint, string expected)
    {
        var uri = HuggingFaceUri.Parse("hf://acme/Qwen2.5-0.5B/sub/dir/model-q4_0.gguf");

        Assert.Equal(expected, uri.ResolveUrl(new Uri(endpoint)).AbsoluteUri);
    }

    [Fact]
    public void ResolveUrl_EscapesEachPart_TheRevisionAsOne()
    {
        var uri = HuggingFaceUri.Parse("hf://o/r@refs%2Fpr%2F3/a b/f.gguf");

        Assert.Equal("https://huggingface.co/o/r/resolve/refs%2Fpr%2F3/a%20b/f.gguf", uri.ResolveUrl(HuggingFaceOptions.DefaultEndpoint).AbsoluteUri);
    }

    [Theory]
    [InlineData("owner", "repo", "../../x.gguf", "main", "'..'")]
    [InlineData("owner", "repo", "/etc/passwd", "main", "is empty")]
    [InlineData("owner", "repo", "sub\\x.gguf", "main", "a backslash")]
    [InlineData("evil.com:443", "repo", "x.gguf", "main", "the owner")]
    [InlineData("owner", "repo/../..", "x.gguf", "main", "the repository")]
    [InlineData("owner", "repo", "x.gguf", "../../../x", "the revision")]
    public void ResolveUrl_OfPartsMadeWithoutParse_ChecksThemTheSameWay(string owner, string repo, string file, string revision, string problem)
    {
        var uri = new HuggingFaceUri(owner, repo, file, revision);

        var error = Assert.Throws<FormatException>(() => uri.ResolveUrl(HuggingFaceOptions.DefaultEndpoint));

        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Contains(ValidShape, error.Message, StringComparison.Ordinal);
    }
}
