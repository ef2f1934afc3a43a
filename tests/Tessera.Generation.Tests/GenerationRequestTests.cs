using Tessera.Generation;

namespace Tessera.Generation.Tests;

public sealed class GenerationRequestTests
{
    private static readonly GenerationOptions Valid = new(SamplingParameters.Greedy, 16);

    [Fact]
    public void Validate_AValidRequest_Passes() => GenerationRequest.Validate([1, 2, 3], Valid, 64, 100);

    [Fact]
    public void Validate_AnEmptyPrompt_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => GenerationRequest.Validate([], Valid, 64, 100));
        Assert.Contains("no tokens", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void Validate_ABudgetBelowOne_IsRefusedNamingMaxTokens(int maxTokens)
    {
        var e = Assert.Throws<ArgumentException>(() => GenerationRequest.Validate([1], Valid with { MaxTokens = maxTokens }, 64, 100));
        Assert.Contains("max_tokens", e.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(21)]
    public void Validate_TopLogProbsOutOfRange_IsRefused(int top)
    {
        var e = Assert.Throws<ArgumentException>(() => GenerationRequest.Validate([1], Valid with { TopLogProbs = top }, 64, 100));
        Assert.Contains("top_logprobs", e.Message);
    }

    [Fact]
    public void Validate_BadSampling_IsRefusedNamingTheValue()
    {
        var e = Assert.Throws<ArgumentException>(() => GenerationRequest.Validate([1], Valid with { Sampling = new SamplingParameters { TopP = 0 } }, 64, 100));
        Assert.Contains("top_p", e.Message);
    }

    [Fact]
    public void Validate_APromptThatFillsTheContext_IsContextFull()
    {
        GenerationRequest.Validate(new int[63], Valid, 64, 100);
        var e = Assert.Throws<ContextFullException>(() => GenerationRequest.Validate(new int[64], Valid, 64, 100));
        Assert.Equal(65, e.Needed);
        Assert.Equal(64, e.ContextLength);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void Validate_ATokenIdOutsideTheVocabulary_IsRefusedNamingItAndItsPosition(int id)
    {
        var e = Assert.Throws<ArgumentException>(() => GenerationRequest.Validate([1, 2, id], Valid, 64, 100));

        Assert.Contains($"Token id {id} at position 2", e.Message);
        Assert.Contains("0 to 99", e.Message);
    }
}
