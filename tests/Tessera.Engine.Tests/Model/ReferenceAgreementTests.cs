using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Testing;
using Xunit.Abstractions;

namespace Tessera.Engine.Tests.Model;

/// <summary>
/// Teacher forcing against llama.cpp: feed each prompt plus llama.cpp's generated tokens and compare the
/// most likely next token and its log-probability at every position.
/// </summary>
public sealed class ReferenceAgreementTests
{
    private readonly ITestOutputHelper _output;

    public ReferenceAgreementTests(ITestOutputHelper output) => _output = output;

    // Every file meets the bounds: top-1 identical at every position for f16 and q8_0 and at >= 95 % for q4_0
    // and q4_k_m; log-probabilities within 0.02 (f16) and 0.1 (quantized) everywhere. The engine follows llama.cpp's
    // float order in every product, the RMS norm, SiLU, soft max and attention, so most positions match to 0.001.
    [Theory]
    [InlineData("tiny-a-f16.gguf", 1.0, 0.02, 1.0)]
    [InlineData("tiny-a-q8_0.gguf", 1.0, 0.1, 1.0)]
    [InlineData("tiny-a-q4_0.gguf", 1.0, 0.1, 1.0)]
    [InlineData("tiny-a-q4_k_m.gguf", 0.95, 0.1, 1.0)]
    public void TeacherForcing_MatchesLlamaCpp(string file, double minTop1Agreement, double maxLogProbError, double minWithinTolerance)
    {
        using var gguf = GgufFile.Open(TestPaths.Model(file));
        using var backend = new CpuBackend(2);
        var stage = new TransformerStage(gguf, LayerRange.All(ModelConfig.FromGguf(gguf).BlockCount), backend);
        var result = TeacherForcing.Run(stage, file, maxLogProbError);
        _output.WriteLine(result.Detail);
        _output.WriteLine(result.Summary(file, maxLogProbError));
        Assert.True(result.Top1Agreement >= minTop1Agreement, $"top-1 agreement {result.Top1Agreement:P1} below {minTop1Agreement:P0}");
        Assert.True(result.FractionWithin >= minWithinTolerance, $"log-prob within {maxLogProbError} at only {result.LogProbWithin}/{result.Positions}");
    }
}
