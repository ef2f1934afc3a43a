using Tessera.Testing;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Models;

/// <summary><c>tessera model inspect</c> on the models people download: what a mixture of experts holds and reads.</summary>
[Trait("Category", "Process")]
public sealed class ModelInspectProcessTests
{
    [Theory]
    [InlineData("tiny-moe-q8_0.gguf", "Mixture of experts: 4 experts of width 256 per block, 2 used per token; one expert")]
    [InlineData("tiny-qwen2moe-q8_0.gguf", "Mixture of experts: 4 experts of width 256 per block, 2 used per token, plus a shared expert of width 512")]
    public async Task Inspect_AMixtureOfExperts_SaysHowManyExpertsAndWhatATokenReads(string file, string expected)
    {
        var (code, stdout, stderr) = await TesseraProcess.RunAsync(["model", "inspect", TestPaths.Model(file)], TimeSpan.FromSeconds(60));

        Assert.True(code == 0, stderr);
        Assert.Contains(expected, stdout.ReplaceLineEndings(" ").Replace("  ", " "));
    }
}
