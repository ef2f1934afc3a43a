using Tessera.Engine.Generation;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Serving;
using Tessera.Serving.Protocol;
using Tessera.Testing;

namespace Tessera.Serving.Tests;

/// <summary>
/// The first stage feeds sampled tokens back itself (SessionOpen.feed_back): the same text as when the driver sends
/// every position, and exactly the positions the session needs (none after its last token).
/// </summary>
public sealed class FeedBackTests
{
    private static readonly string Model = TestPaths.Model("tiny-a-q8_0.gguf");

    private static async Task<List<PipelineToken>> RunAsync(PipelineDriver driver, PipelineRequest request)
    {
        var result = new List<PipelineToken>();
        await foreach (var t in driver.GenerateAsync(request))
            result.Add(t);
        return result;
    }

    private static async Task<long> TokensAtFirstStageAsync(PipelineDriver driver) => (await driver.StatusAsync())[0].TokensProcessed;

    [Theory]
    [InlineData("0-2", "2-4")]
    [InlineData("0-4")]
    public async Task FeedBackAtTheFirstStage_GivesTheDriversText_AndNoPositionPastTheEnd(params string[] ranges)
    {
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, ranges);
        await using var fedBack = await PipelineDriver.ConnectAsync(pipeline.Endpoints, new PipelineDriverOptions());
        await using var driven = await PipelineDriver.ConnectAsync(pipeline.Endpoints, new PipelineDriverOptions { FeedBackAtFirstStage = false });

        var prompt = local.Tokenizer.Encode("Once upon a time, in a land far away,", addSpecial: true);
        var sampling = new SamplingParameters { Temperature = 0.9f, Seed = 7 };
        var expected = await RunAsync(driven, new PipelineRequest(prompt, sampling, 20));

        var before = await TokensAtFirstStageAsync(fedBack);
        var actual = await RunAsync(fedBack, new PipelineRequest(prompt, sampling, 20));
        Assert.Equal(expected.Select(t => (t.Id, t.LogProb)), actual.Select(t => (t.Id, t.LogProb)));
        Assert.Equal(FinishReason.Length, actual[^1].Finish);
        await pipeline.WaitForNoSessionsAsync(TimeSpan.FromSeconds(5));
        // The prompt and every generated token but the last went through the first stage, nothing more.
        Assert.Equal(prompt.Length + actual.Count - 1, await TokensAtFirstStageAsync(fedBack) - before);
    }

    [Fact]
    public async Task AnEndToken_StopsTheFirstStageFeedingBack()
    {
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-2", "2-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);
        var prompt = local.Tokenizer.Encode("The quick brown fox", addSpecial: true);

        // Greedy text of this prompt; then its fourth token is declared an end token.
        var free = await RunAsync(driver, new PipelineRequest(prompt, SamplingParameters.Greedy, 12));
        var end = free[3].Id;
        var expectedCount = free.FindIndex(t => t.Id == end) + 1;

        var before = await TokensAtFirstStageAsync(driver);
        var stopped = await RunAsync(driver, new PipelineRequest(prompt, SamplingParameters.Greedy, 12) { EndTokens = new HashSet<int> { end } });
        Assert.Equal(free.Take(expectedCount).Select(t => t.Id), stopped.Select(t => t.Id));
        Assert.Equal(FinishReason.Stop, stopped[^1].Finish);
        await pipeline.WaitForNoSessionsAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(prompt.Length + stopped.Count - 1, await TokensAtFirstStageAsync(driver) - before);
    }
}
