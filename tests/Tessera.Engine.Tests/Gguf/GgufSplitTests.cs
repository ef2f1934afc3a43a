using Tessera.Engine.Generation;
using Tessera.Engine.Gguf;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Gguf;

/// <summary>Models split over several files by gguf-split load as one, from any part; a broken set is refused by name.</summary>
public sealed class GgufSplitTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-split-");

    public void Dispose() => _dir.Delete(recursive: true);

    private IReadOnlyList<string> SplitTiny(int parts = 3) =>
        GgufSplitWriter.Split(TestPaths.Model("tiny-a-q8_0.gguf"), Path.Combine(_dir.FullName, "tiny-a-q8_0"), parts);

    [Fact]
    public void ASplitModel_GeneratesTheSameTokensAsTheWholeFile()
    {
        var parts = SplitTiny();
        Assert.Equal(Path.Combine(_dir.FullName, "tiny-a-q8_0-00003-of-00003.gguf"), parts[2]);
        using var whole = LocalModel.Load(TestPaths.Model("tiny-a-q8_0.gguf"), threads: 2);
        using var split = LocalModel.Load(parts[0], threads: 2);
        var prompt = whole.Tokenizer.Encode("Once upon a time", addSpecial: true);

        var expected = whole.Generator.Generate(prompt, SamplingParameters.Greedy, 12, new GenerationStats()).ToList();
        var actual = split.Generator.Generate(prompt, SamplingParameters.Greedy, 12, new GenerationStats()).ToList();

        Assert.Equal(expected.Select(t => t.Id), actual.Select(t => t.Id));
        Assert.Equal(expected.Select(t => t.LogProb), actual.Select(t => t.LogProb));
        Assert.True(split.File.IsSplit);
        Assert.Equal(parts, split.File.PartPaths);
    }

    [Fact]
    public void OpeningAnyPart_OpensTheWholeSetWithTheUnionOfItsTensors()
    {
        var parts = SplitTiny();
        using var whole = GgufFile.Open(TestPaths.Model("tiny-a-q8_0.gguf"));

        using var fromLast = GgufFile.Open(parts[2]);

        Assert.Equal(parts, fromLast.PartPaths);
        Assert.Equal(whole.Tensors.Select(t => t.Name), fromLast.Tensors.Select(t => t.Name));
        Assert.Equal([0, 1, 2], fromLast.Tensors.Select(t => t.Part).Distinct());
        Assert.Equal(whole.Architecture, fromLast.Architecture);
        Assert.Equal(parts.Sum(p => new FileInfo(p).Length), fromLast.FileLength);
        foreach (var t in whole.Tensors)
            Assert.True(whole.GetData(t).SequenceEqual(fromLast.GetData(fromLast.GetTensor(t.Name))), t.Name);
    }

    [Fact]
    public void AMissingPart_IsAnErrorNamingIt()
    {
        var parts = SplitTiny();
        File.Delete(parts[1]);

        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(parts[0]));

        Assert.Equal(parts[1], e.FilePath);
        Assert.Contains($"part 2 of 3 of the split model {parts[0]} is missing", e.Message);
    }

    [Fact]
    public void APartOfAnotherSet_IsAnErrorNamingIt()
    {
        var parts = SplitTiny();
        var other = GgufSplitWriter.Split(TestPaths.Model("tiny-a-q8_0.gguf"), Path.Combine(_dir.FullName, "other"), 2);
        File.Copy(other[1], parts[2], overwrite: true); // part 2 of 2 where part 3 of 3 should be

        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(parts[0]));

        Assert.Equal(parts[2], e.FilePath);
        Assert.Contains("should be part 3 of 3", e.Message);
    }

    [Fact]
    public void ARenamedPart_IsRefusedBecauseItsSetCannotBeFound()
    {
        var parts = SplitTiny();
        var renamed = Path.Combine(_dir.FullName, "model.gguf");
        File.Move(parts[0], renamed);

        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(renamed));

        Assert.Contains("is part 1 of a model split into 3 files, but its name does not end in -00001-of-00003.gguf", e.Message);
    }

    [Theory]
    [InlineData("/m/Qwen-Q4_K_M-00002-of-00005.gguf", "/m/Qwen-Q4_K_M", 2, 5)]
    [InlineData("a-00001-of-00001.GGUF", "a", 1, 1)]
    public void SplitNames_AreReadAndMadeAsGgufSplitWritesThem(string path, string prefix, int number, int count)
    {
        Assert.True(GgufSplitName.TryParse(path, out var name));
        Assert.Equal(new GgufSplitName(prefix, number, count), name);
        Assert.Equal($"{prefix}-00001-of-{count:D5}.gguf", name.PartName(1));
    }

    [Theory]
    [InlineData("model.gguf")]
    [InlineData("model-00004-of-00003.gguf")]
    [InlineData("model-00000-of-00003.gguf")]
    [InlineData("model-1-of-3.gguf")]
    public void OtherNames_AreNotParts(string path) => Assert.False(GgufSplitName.TryParse(path, out _));
}
