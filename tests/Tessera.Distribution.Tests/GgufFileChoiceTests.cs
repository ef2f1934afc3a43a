namespace Tessera.Distribution.Tests;

/// <summary>Which file of a repository hf://owner/repo:TAG names, decided from the file list alone.</summary>
public sealed class GgufFileChoiceTests
{
    private static readonly string[] Repo =
    [
        ".gitattributes", "README.md",
        "tinyllama-1.1b-chat.Q4_0.gguf", "tinyllama-1.1b-chat.Q4_K_M.gguf", "tinyllama-1.1b-chat.Q4_K_S.gguf", "tinyllama-1.1b-chat.IQ4_XS.gguf",
        "Q8_0/tinyllama-1.1b-chat.Q8_0-00001-of-00002.gguf", "Q8_0/tinyllama-1.1b-chat.Q8_0-00002-of-00002.gguf",
        "mmproj-tinyllama-f16.gguf",
    ];

    [Theory]
    [InlineData("Q4_K_M", "tinyllama-1.1b-chat.Q4_K_M.gguf")]
    [InlineData("q4_k_m", "tinyllama-1.1b-chat.Q4_K_M.gguf")]
    [InlineData("Q4_0", "tinyllama-1.1b-chat.Q4_0.gguf")]
    [InlineData("iq4_xs", "tinyllama-1.1b-chat.IQ4_XS.gguf")]
    public void ATag_NamesTheFileOfThatQuantization_CaseInsensitively(string tag, string file) =>
        Assert.Equal([file], GgufFileChoice.Choose(Repo, tag, "hf://acme/tiny:" + tag).Files);

    [Fact]
    public void ATagOfASplitModel_NamesEveryPartInOrder() =>
        Assert.Equal(["Q8_0/tinyllama-1.1b-chat.Q8_0-00001-of-00002.gguf", "Q8_0/tinyllama-1.1b-chat.Q8_0-00002-of-00002.gguf"],
            GgufFileChoice.Choose(Repo, "Q8_0", "hf://acme/tiny:Q8_0").Files);

    [Fact]
    public void ASingleFile_IsPreferredToASplitSetOfTheSameQuantization()
    {
        string[] files = ["m-Q8_0.gguf", "big/m-Q8_0-00001-of-00002.gguf", "big/m-Q8_0-00002-of-00002.gguf"];

        Assert.Equal(["m-Q8_0.gguf"], GgufFileChoice.Choose(files, "Q8_0", "hf://acme/m:Q8_0").Files);
    }

    [Fact]
    public void ATagNoFileCarries_IsAnErrorListingTheQuantizationsThereAre()
    {
        var e = Assert.Throws<HuggingFaceException>(() => GgufFileChoice.Choose(Repo, "Q5_K_M", "hf://acme/tiny:Q5_K_M"));

        Assert.Equal("hf://acme/tiny:Q5_K_M: no GGUF model of the repository is Q5_K_M; there are: IQ4_XS, Q4_0, Q4_K_M, Q4_K_S, Q8_0.", e.Message);
    }

    [Fact]
    public void ATagSeveralFilesCarry_IsAnErrorNamingThem()
    {
        string[] files = ["a/m-Q4_0.gguf", "b/m-Q4_0.gguf"];

        var e = Assert.Throws<HuggingFaceException>(() => GgufFileChoice.Choose(files, "Q4_0", "hf://acme/m:Q4_0"));

        Assert.Equal("hf://acme/m:Q4_0: 2 GGUF models match Q4_0 (a/m-Q4_0.gguf, b/m-Q4_0.gguf); name the file instead, e.g. hf://acme/m/a/m-Q4_0.gguf.", e.Message);
    }

    [Fact]
    public void WithoutATag_TheOnlyModelIsChosen_ElseTheQ4KMOne()
    {
        Assert.Equal(["only-f16.gguf"], GgufFileChoice.Choose(["only-f16.gguf", "mmproj-f16.gguf", "README.md"], null, "hf://acme/only").Files);
        Assert.Equal(["tinyllama-1.1b-chat.Q4_K_M.gguf"], GgufFileChoice.Choose(Repo, null, "hf://acme/tiny").Files);
    }

    [Fact]
    public void WithoutATag_SeveralModelsAndNoQ4KM_IsAnErrorSuggestingATag()
    {
        var e = Assert.Throws<HuggingFaceException>(() => GgufFileChoice.Choose(["m.Q8_0.gguf", "m.F16.gguf"], null, "hf://acme/m"));

        Assert.Equal("hf://acme/m: the repository holds 2 GGUF models and none is Q4_K_M, the default; name one with a tag, e.g. hf://acme/m:F16 (there are: F16, Q8_0).", e.Message);
    }

    [Fact]
    public void ARepositoryWithoutGguf_IsAnError() =>
        Assert.Contains("holds no GGUF model file", Assert.Throws<HuggingFaceException>(() => GgufFileChoice.Choose(["README.md"], "Q4_0", "hf://acme/x:Q4_0")).Message);

    [Theory]
    [InlineData("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M")]
    [InlineData("Llama-3.2-1B-Instruct-UD-Q4_K_XL.gguf", "UD-Q4_K_XL")]
    [InlineData("gpt-oss-20b-MXFP4.gguf", "MXFP4")]
    [InlineData("model-BF16-00001-of-00003.gguf", "BF16")]
    [InlineData("README.gguf", null)]
    public void TheQuantization_IsReadFromTheFileName(string file, string? quantization) =>
        Assert.Equal(quantization, GgufFileChoice.Quantization(file));
}
