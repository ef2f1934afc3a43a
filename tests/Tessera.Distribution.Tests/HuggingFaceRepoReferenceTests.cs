namespace Tessera.Distribution.Tests;

/// <summary>hf://owner/repo[@revision][:TAG]: a repository and the quantization wanted from it.</summary>
public sealed class HuggingFaceRepoReferenceTests
{
    [Theory]
    [InlineData("hf://acme/tiny-GGUF:Q4_K_M", "acme", "tiny-GGUF", "main", "Q4_K_M")]
    [InlineData("hf://acme/tiny-GGUF", "acme", "tiny-GGUF", "main", null)]
    [InlineData("hf://acme/tiny-GGUF/", "acme", "tiny-GGUF", "main", null)]
    [InlineData("hf://acme/tiny-GGUF@v1.0:UD-Q4_K_XL", "acme", "tiny-GGUF", "v1.0", "UD-Q4_K_XL")]
    [InlineData("hf://acme/tiny-GGUF@refs%2Fpr%2F3:q8_0", "acme", "tiny-GGUF", "refs/pr/3", "q8_0")]
    public void Parse_ReadsOwnerRepositoryRevisionAndTag(string text, string owner, string repo, string revision, string? tag)
    {
        Assert.True(HuggingFaceRepoReference.IsRepoReference(text));
        Assert.Equal(new HuggingFaceRepoReference(owner, repo, revision, tag), HuggingFaceRepoReference.Parse(text));
    }

    [Theory]
    [InlineData("hf://acme/tiny:Q4 K", "the tag")]
    [InlineData("hf://acme/ti..ny:Q4_0", "the repository")]
    [InlineData("hf://acme/tiny@..:Q4_0", "the revision")]
    [InlineData("hf://acme/tiny:", "the tag")]
    public void AnInvalidPart_IsRefusedNamingIt(string text, string part)
    {
        var e = Assert.Throws<FormatException>(() => HuggingFaceRepoReference.Parse(text));

        Assert.Contains(part, e.Message);
        Assert.Contains("hf://owner/repo:Q4_K_M", e.Message);
    }

    [Fact]
    public void AFileReference_IsNotARepositoryReference_AndBothAreValidModelReferences()
    {
        Assert.False(HuggingFaceRepoReference.IsRepoReference("hf://acme/tiny/m.gguf"));
        Assert.True(HuggingFaceRepoReference.IsValidModelReference("hf://acme/tiny/m.gguf", out _));
        Assert.True(HuggingFaceRepoReference.IsValidModelReference("hf://acme/tiny:Q4_0", out _));
        Assert.False(HuggingFaceRepoReference.IsValidModelReference("hf://acme/tiny:Q4 0", out var error));
        Assert.Contains("the tag", error);
    }

    [Fact]
    public void TheApiAddress_IsTheRepositorysDescriptionAtItsRevision()
    {
        var hub = new Uri("https://hub.example/mirror/");

        Assert.Equal("https://hub.example/mirror/api/models/acme/tiny", HuggingFaceRepoReference.Parse("hf://acme/tiny:Q4_0").ApiUrl(hub).AbsoluteUri);
        Assert.Equal("https://hub.example/mirror/api/models/acme/tiny/revision/refs%2Fpr%2F3",
            HuggingFaceRepoReference.Parse("hf://acme/tiny@refs%2Fpr%2F3").ApiUrl(hub).AbsoluteUri);
    }
}
