using Tessera.Engine.Generation;
using Tessera.Generation;
using Tessera.Serving;
using Tessera.Serving.Protocol;
using Tessera.Testing;

namespace Tessera.Serving.Tests;

/// <summary>Embeddings through in-process stages: the last stage pools, the driver completes the request with the vector.</summary>
public sealed class PipelineEmbeddingTests
{
    private const string Id = "tiny";
    private static readonly string Model = TestPaths.Model("tiny-a-q8_0.gguf");
    private static readonly string[] Texts =
        ["The quick brown fox jumps over the lazy dog.", "Hello", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12", "Once upon a time, in a land far away, there lived a king."];

    private static async Task<(List<int[]> Inputs, Dictionary<EmbeddingPooling, IReadOnlyList<float[]>> Expected)> LocalAsync(IEnumerable<string> texts)
    {
        using var model = LocalModel.Load(Model, threads: 1, contextLength: 512);
        using var service = new LocalGenerationService(model, Id);
        var inputs = texts.Select(t => service.TokenizePrompt(Id, t)).ToList();
        var expected = new Dictionary<EmbeddingPooling, IReadOnlyList<float[]>>();
        foreach (var pooling in Enum.GetValues<EmbeddingPooling>())
            expected[pooling] = (await service.EmbedAsync(Id, inputs, new EmbeddingOptions { Pooling = pooling }, default)).Vectors;
        return (inputs, expected);
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f, $"[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [InlineData(256)]
    [InlineData(3)]
    public async Task TwoStages_WithF32Activations_GiveTheVectorsOfOneProcess(int maxBatchTokens)
    {
        var (inputs, expected) = await LocalAsync(Texts);
        await using var pipeline = await InProcessPipeline.StartWithAsync(Model, ActivationFormat.F32, o => o with { MaxBatchTokens = maxBatchTokens }, "0-2", "2-4");
        await using var service = await PipelineGenerationService.ConnectAsync(Model, pipeline.Endpoints, new PipelineGenerationServiceOptions { Id = Id, MaxActiveSessions = 3 });

        foreach (var pooling in Enum.GetValues<EmbeddingPooling>())
        {
            var result = await service.EmbedAsync(Id, inputs, new EmbeddingOptions { Pooling = pooling }, default);
            Assert.Equal(inputs.Sum(i => i.Length), result.PromptTokens);
            for (var i = 0; i < inputs.Count; i++)
                AssertClose(expected[pooling][i], result.Vectors[i]);
        }
        var byDefault = await service.EmbedAsync(Id, inputs, new EmbeddingOptions(), default);
        AssertClose(expected[EmbeddingPooling.Mean][0], byDefault.Vectors[0]);
        await pipeline.WaitForNoSessionsAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task EmbeddingsAndGeneration_ShareThePipeline_AndTheTextIsUnchanged()
    {
        var (inputs, expected) = await LocalAsync(Texts);
        await using var pipeline = await InProcessPipeline.StartWithAsync(Model, ActivationFormat.F32, o => o with { MaxBatchTokens = 8 }, "0-2", "2-4");
        await using var service = await PipelineGenerationService.ConnectAsync(Model, pipeline.Endpoints, new PipelineGenerationServiceOptions { Id = Id });
        var prompt = service.TokenizePrompt(Id, "Once upon a time");
        var options = new GenerationOptions(SamplingParameters.Greedy, 16);
        async Task<List<int>> GenerateAsync()
        {
            var ids = new List<int>();
            await foreach (var t in service.GenerateAsync(Id, prompt, options, default))
                ids.Add(t.Id);
            return ids;
        }
        var alone = await GenerateAsync();

        var generation = GenerateAsync();
        var embeddings = service.EmbedAsync(Id, [.. inputs, .. inputs], new EmbeddingOptions { Pooling = EmbeddingPooling.Last }, default);

        Assert.Equal(alone, await generation);
        var vectors = (await embeddings).Vectors;
        for (var i = 0; i < vectors.Count; i++)
            AssertClose(expected[EmbeddingPooling.Last][i % inputs.Count], vectors[i]);
    }

    [Fact]
    public async Task AStageLostMidPrompt_TheEmbeddingIsReplayedAndComesBackOnce()
    {
        var long1 = string.Join(' ', Enumerable.Repeat(Texts[3], 4));
        var long2 = string.Join(' ', Enumerable.Repeat(Texts[0], 4));
        var (inputs, expected) = await LocalAsync([long1, long2]);
        await using var pipeline = await InProcessPipeline.StartWithAsync(Model, ActivationFormat.F32, o => o with { MaxBatchTokens = 2 }, "0-1", "1-3", "3-4");
        var middle = pipeline.Servers[1];
        var recovery = new InProcessStageReplacement(pipeline, Model, 1, "1-3");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints, new PipelineDriverOptions { Recovery = recovery });

        var first = driver.EmbedAsync(inputs[0], EmbeddingPooling.Mean);
        var second = driver.EmbedAsync(inputs[1], EmbeddingPooling.Cls);
        // Lose the middle stage once it has computed part of the prompts (each pass takes 2 positions).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (middle.Host.Status().TokensProcessed < 8 && DateTime.UtcNow < deadline)
            await Task.Delay(1);
        Assert.False(first.IsCompleted || second.IsCompleted, "the prompts finished before the stage was lost");
        pipeline.Servers.Remove(middle);
        await middle.AbortAsync();

        var vectors = await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(60));
        AssertClose(expected[EmbeddingPooling.Mean][0], vectors[0]);
        AssertClose(expected[EmbeddingPooling.Cls][1], vectors[1]);
        Assert.Equal(1, driver.RecoveryStatistics.Recoveries);
        Assert.Equal(0, driver.ActiveSessions);
    }

    [Fact]
    public async Task InvalidInputs_AreRefusedBeforeTheyReachTheStages()
    {
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-4");
        await using var service = await PipelineGenerationService.ConnectAsync(Model, pipeline.Endpoints, new PipelineGenerationServiceOptions { Id = Id });
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => service.EmbedAsync(Id, [[1, 2], new int[513]], new EmbeddingOptions(), default));
        Assert.Contains("input[1]", tooLong.Message);
        var dimensions = await Assert.ThrowsAsync<ArgumentException>(() => service.EmbedAsync(Id, [[1, 2]], new EmbeddingOptions { Dimensions = 3 }, default));
        Assert.Equal("dimensions", dimensions.ParamName);
    }
}
