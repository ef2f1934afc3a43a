using Tessera.Engine.Generation;
using Tessera.Engine.Model;
using Tessera.Generation;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Generation;

/// <summary>Embeddings of tiny-a: the final-normed hidden states pooled, on the stage and through the local service.</summary>
public sealed class EmbeddingTests : IDisposable
{
    private const string Id = "tiny";
    private readonly LocalModel _model = LocalModel.Load(TestPaths.Model("tiny-a-q8_0.gguf"), threads: 2, contextLength: 256);

    public void Dispose() => _model.Dispose();

    private int Width => _model.Stage.Config.EmbeddingLength;

    private static readonly string[] Texts =
        ["The quick brown fox jumps over the lazy dog.", "Hello", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12", "In a hole in the ground there lived a hobbit."];

    /// <summary>Each position's final-normed hidden state, computed one position per pass as decoding does (not as a prompt).</summary>
    private float[][] NormedOneByOne(int[] tokens)
    {
        var stage = _model.Stage;
        using var cache = stage.CreateCache(tokens.Length);
        var rows = new float[tokens.Length][];
        for (var p = 0; p < tokens.Length; p++)
        {
            rows[p] = new float[Width];
            stage.Forward([new BatchSequence(cache, 1)], tokens.AsSpan(p, 1), default, rows[p], LogitsMode.NormedHidden);
        }
        return rows;
    }

    private static float[] Normalized(float[] v)
    {
        var copy = (float[])v.Clone();
        EmbeddingRequest.Normalize(copy);
        return copy;
    }

    private static void AssertClose(float[] expected, float[] actual, float tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [InlineData(EmbeddingPooling.Mean)]
    [InlineData(EmbeddingPooling.Cls)]
    [InlineData(EmbeddingPooling.Last)]
    public async Task Pooling_HasTheModelsWidthAndUnitNorm_AndEqualsThePositionsComputedOneByOne(EmbeddingPooling pooling)
    {
        using var service = new LocalGenerationService(_model, Id);
        var tokens = service.TokenizePrompt(Id, Texts[0]);
        var result = await service.EmbedAsync(Id, [tokens], new EmbeddingOptions { Pooling = pooling }, default);

        var vector = Assert.Single(result.Vectors);
        Assert.Equal(Width, vector.Length);
        Assert.Equal(1.0, Math.Sqrt(vector.Sum(v => (double)v * v)), 5);
        Assert.Equal(tokens.Length, result.PromptTokens);

        var rows = NormedOneByOne(tokens);
        var expected = pooling switch
        {
            EmbeddingPooling.Mean => Enumerable.Range(0, Width).Select(i => (float)(rows.Sum(r => (double)r[i]) / rows.Length)).ToArray(),
            EmbeddingPooling.Cls => rows[0],
            _ => rows[^1],
        };
        AssertClose(Normalized(expected), vector, 1e-6f);
    }

    [Fact]
    public async Task DefaultPooling_IsMean_ForAModelThatDeclaresNone()
    {
        Assert.Null(_model.Stage.Config.PoolingType);
        using var service = new LocalGenerationService(_model, Id);
        var tokens = service.TokenizePrompt(Id, Texts[2]);
        var byDefault = await service.EmbedAsync(Id, [tokens], new EmbeddingOptions(), default);
        var mean = await service.EmbedAsync(Id, [tokens], new EmbeddingOptions { Pooling = EmbeddingPooling.Mean }, default);
        Assert.Equal(mean.Vectors[0], byDefault.Vectors[0]);
    }

    [Fact]
    public async Task ChunkedPrompt_EqualsUnchunked()
    {
        using var whole = new LocalGenerationService(_model, Id);
        using var chunked = new LocalGenerationService(_model, Id, new LocalGenerationServiceOptions { PrefillTokensPerStep = 3 });
        var inputs = Texts.Select(t => whole.TokenizePrompt(Id, t)).ToList();
        Assert.Contains(inputs, i => i.Length > 6);
        foreach (var pooling in new[] { EmbeddingPooling.Mean, EmbeddingPooling.Cls, EmbeddingPooling.Last })
        {
            var a = await whole.EmbedAsync(Id, inputs, new EmbeddingOptions { Pooling = pooling }, default);
            var b = await chunked.EmbedAsync(Id, inputs, new EmbeddingOptions { Pooling = pooling }, default);
            for (var i = 0; i < inputs.Count; i++)
                Assert.Equal(a.Vectors[i], b.Vectors[i]);
        }
    }

    [Fact]
    public async Task ManyInputsInOneRequest_EqualOneByOne_InOrder()
    {
        using var service = new LocalGenerationService(_model, Id);
        var inputs = Enumerable.Range(0, 40).Select(i => service.TokenizePrompt(Id, $"{Texts[i % Texts.Length]} #{i}")).ToList();
        var together = await service.EmbedAsync(Id, inputs, new EmbeddingOptions(), default);
        Assert.Equal(inputs.Count, together.Vectors.Count);
        Assert.Equal(inputs.Sum(i => i.Length), together.PromptTokens);
        for (var i = 0; i < inputs.Count; i++)
        {
            var alone = await service.EmbedAsync(Id, [inputs[i]], new EmbeddingOptions(), default);
            Assert.Equal(alone.Vectors[0], together.Vectors[i]);
        }
    }

    [Fact]
    public async Task EmbeddingsAndChat_RunTogether_AndChatIsUnchanged()
    {
        using var service = new LocalGenerationService(_model, Id, new LocalGenerationServiceOptions { PrefillTokensPerStep = 16 });
        var prompt = service.TokenizePrompt(Id, "Once upon a time");
        var options = new GenerationOptions(Tessera.Generation.SamplingParameters.Greedy, 12);
        var alone = new List<int>();
        await foreach (var t in service.GenerateAsync(Id, prompt, options, default))
            alone.Add(t.Id);

        var inputs = Enumerable.Range(0, 30).Select(i => service.TokenizePrompt(Id, Texts[i % Texts.Length])).ToList();
        var embedding = service.EmbedAsync(Id, inputs, new EmbeddingOptions(), default);
        var together = new List<int>();
        await foreach (var t in service.GenerateAsync(Id, prompt, options, default))
            together.Add(t.Id);

        Assert.Equal(alone, together);
        Assert.Equal(30, (await embedding).Vectors.Count);
    }

    [Fact]
    public async Task InvalidRequests_NameTheField()
    {
        using var service = new LocalGenerationService(_model, Id);
        var ok = service.TokenizePrompt(Id, "Hello");
        var empty = await Assert.ThrowsAsync<ArgumentException>(() => service.EmbedAsync(Id, [ok, []], new EmbeddingOptions(), default));
        Assert.Equal("input", empty.ParamName);
        Assert.Contains("input[1]", empty.Message);
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => service.EmbedAsync(Id, [ok, ok, new int[257]], new EmbeddingOptions(), default));
        Assert.Contains("input[2]", tooLong.Message);
        var dimensions = await Assert.ThrowsAsync<ArgumentException>(() => service.EmbedAsync(Id, [ok], new EmbeddingOptions { Dimensions = 8 }, default));
        Assert.Equal("dimensions", dimensions.ParamName);
        Assert.Contains(Width.ToString(System.Globalization.CultureInfo.InvariantCulture), dimensions.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => service.EmbedAsync(Id, [], new EmbeddingOptions(), default));
        await Assert.ThrowsAsync<UnknownModelException>(() => service.EmbedAsync("other", [ok], new EmbeddingOptions(), default));
    }

    [Fact]
    public async Task Cancelling_EndsTheRequest_AndTheServiceGoesOn()
    {
        using var service = new LocalGenerationService(_model, Id, new LocalGenerationServiceOptions { PrefillTokensPerStep = 4 });
        var inputs = Enumerable.Range(0, 200).Select(i => service.TokenizePrompt(Id, Texts[i % Texts.Length])).ToList();
        using var cancel = new CancellationTokenSource();
        var running = service.EmbedAsync(Id, inputs, new EmbeddingOptions(), cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        var after = await service.EmbedAsync(Id, [inputs[0]], new EmbeddingOptions(), default);
        Assert.Single(after.Vectors);
    }
}
