using Tessera.Engine.Generation;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Serving;
using Tessera.Serving.Protocol;
using Tessera.Testing;

namespace Tessera.Serving.Tests;

/// <summary>Three stages in this process (fast); the same checks against real processes live in Tessera.Tests.</summary>
public sealed class PipelineExactnessTests
{
    private static readonly string Model = TestPaths.Model("tiny-a-q8_0.gguf");
    private static readonly string[] Prompts = ["The quick brown fox", "Once upon a time, in a land far away,", "1 2 3 4 5 6 7 8", "Hello world!"];

    private static List<GeneratedToken> Local(LocalModel model, string prompt, SamplingParameters sampling, int maxTokens)
    {
        var tokens = model.Tokenizer.Encode(prompt, addSpecial: true);
        return model.Generator.Generate(tokens, sampling, maxTokens, new GenerationStats(), topLogProbs: 3).ToList();
    }

    private static async Task<List<PipelineToken>> RunAsync(PipelineDriver driver, int[] prompt, SamplingParameters sampling, int maxTokens, CancellationToken cancellation = default)
    {
        var result = new List<PipelineToken>();
        await foreach (var t in driver.GenerateAsync(new PipelineRequest(prompt, sampling, maxTokens) { TopLogProbs = 3 }, cancellation))
            result.Add(t);
        return result;
    }

    [Fact]
    public async Task ThreeStages_WithF32Activations_MatchOneProcessTokenForToken()
    {
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-1", "1-3", "3-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);

        foreach (var prompt in Prompts)
        {
            var expected = Local(local, prompt, SamplingParameters.Greedy, 24);
            var actual = await RunAsync(driver, local.Tokenizer.Encode(prompt, addSpecial: true), SamplingParameters.Greedy, 24);
            Assert.Equal(expected.Select(t => t.Id), actual.Select(t => t.Id));
            for (var i = 0; i < expected.Count; i++)
            {
                Assert.InRange(Math.Abs(expected[i].LogProb - actual[i].LogProb), 0, 1e-5);
                Assert.Equal(expected[i].TopLogProbs!.Select(x => x.Id), actual[i].TopLogProbs!.Select(x => x.Id));
            }
            Assert.Equal(FinishReason.Length, actual[^1].Finish);
        }
        await pipeline.WaitForNoSessionsAsync(TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// With f16 activations every stage rounds the hidden state to f16 after each layer, so where the model is split
    /// changes nothing: a re-plan after a failure (other split points) keeps the text, log-probabilities included.
    /// </summary>
    [Fact]
    public async Task F16Activations_DifferentSplits_GiveTheSameTokensAndLogProbs()
    {
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var a = await InProcessPipeline.StartAsync(Model, ActivationFormat.F16, "0-1", "1-3", "3-4");
        await using var b = await InProcessPipeline.StartAsync(Model, ActivationFormat.F16, "0-2", "2-4");
        await using var one = await InProcessPipeline.StartAsync(Model, ActivationFormat.F16, "0-4");
        await using var driverA = await PipelineDriver.ConnectAsync(a.Endpoints);
        await using var driverB = await PipelineDriver.ConnectAsync(b.Endpoints);
        await using var driverOne = await PipelineDriver.ConnectAsync(one.Endpoints);

        foreach (var prompt in Prompts)
        {
            var tokens = local.Tokenizer.Encode(prompt, addSpecial: true);
            var three = await RunAsync(driverA, tokens, SamplingParameters.Greedy, 32);
            var two = await RunAsync(driverB, tokens, SamplingParameters.Greedy, 32);
            var single = await RunAsync(driverOne, tokens, SamplingParameters.Greedy, 32);
            Assert.Equal(three.Select(t => (t.Id, t.LogProb)), two.Select(t => (t.Id, t.LogProb)));
            Assert.Equal(three.Select(t => (t.Id, t.LogProb)), single.Select(t => (t.Id, t.LogProb)));
        }
    }

    [Fact]
    public async Task SeededSampling_AcrossStages_MatchesOneProcess()
    {
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-2", "2-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);
        var sampling = new SamplingParameters { Temperature = 0.9f, Seed = 42, RepetitionPenalty = 1.1f };

        var expected = Local(local, Prompts[1], sampling, 20);
        var actual = await RunAsync(driver, local.Tokenizer.Encode(Prompts[1], addSpecial: true), sampling, 20);

        Assert.Equal(expected.Select(t => t.Id), actual.Select(t => t.Id));
    }

    [Fact]
    public async Task ConcurrentSessions_GiveTheSameOutputAsAlone()
    {
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-1", "1-3", "3-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);
        var expected = Prompts.Select(p => Local(local, p, SamplingParameters.Greedy, 16).Select(t => t.Id).ToList()).ToList();

        var runs = Prompts.Select(p => RunAsync(driver, local.Tokenizer.Encode(p, addSpecial: true), SamplingParameters.Greedy, 16)).ToList();
        var results = await Task.WhenAll(runs);

        for (var i = 0; i < Prompts.Length; i++)
            Assert.Equal(expected[i], results[i].Select(t => t.Id));
        Assert.True(pipeline.Servers.All(s => s.Host.Status().ForwardCalls > 0));
    }

    [Fact]
    public async Task DecodingSessionsSplitIntoGroups_AtTheFirstStage_GiveTheSameOutputAsAlone()
    {
        // Two groups (as for two machines): no pass of the first stage takes more than half the decoding sessions.
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var pipeline = await InProcessPipeline.StartWithAsync(Model, ActivationFormat.F32, o => o with { MicroBatches = 2 }, "0-2", "2-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);
        var expected = Prompts.Select(p => Local(local, p, SamplingParameters.Greedy, 24).Select(t => t.Id).ToList()).ToList();

        var runs = Prompts.Select(p => RunAsync(driver, local.Tokenizer.Encode(p, addSpecial: true), SamplingParameters.Greedy, 24)).ToList();
        var results = await Task.WhenAll(runs);

        for (var i = 0; i < Prompts.Length; i++)
            Assert.Equal(expected[i], results[i].Select(t => t.Id));
        Assert.InRange(pipeline.Servers[0].Host.LargestDecodeGroup, 1, 2);
    }

    [Fact]
    public async Task CancellingASession_FreesItsCacheOnEveryStage_AndOthersGoOn()
    {
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F16, "0-1", "1-3", "3-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);
        var prompt = new[] { 1, 450, 4996, 17354 };

        using var cts = new CancellationTokenSource();
        var count = 0;
        var sawAll = false;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in driver.GenerateAsync(new PipelineRequest(prompt, SamplingParameters.Greedy, 400), cts.Token))
            {
                if (++count == 1)
                    sawAll = pipeline.Servers.All(s => s.Host.LiveSessions == 1);
                if (count == 5)
                    cts.Cancel();
            }
        });

        Assert.True(sawAll, "every stage held the session while it ran");
        await pipeline.WaitForNoSessionsAsync(TimeSpan.FromSeconds(5));
        var after = await RunAsync(driver, prompt, SamplingParameters.Greedy, 4);
        Assert.Equal(4, after.Count);
    }

    [Fact]
    public async Task ADriverThatGoesAway_FreesItsSessionsOnEveryStage()
    {
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.Q8, "0-2", "2-4");
        var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);
        var prompt = new[] { 1, 450, 4996, 17354 };
        var enumerator = driver.GenerateAsync(new PipelineRequest(prompt, SamplingParameters.Greedy, 400)).GetAsyncEnumerator();
        Assert.True(await enumerator.MoveNextAsync());
        Assert.Equal(1, pipeline.Servers[1].Host.LiveSessions);

        await driver.DisposeAsync();

        await pipeline.WaitForNoSessionsAsync(TimeSpan.FromSeconds(5));
        Assert.All(pipeline.Servers, s => Assert.Equal(0, s.Host.Status().Lanes));
    }

    [Fact]
    public async Task APromptLongerThanTheBatchBudget_IsPrefilledInChunks_WithTheSameResult()
    {
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-2", "2-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);
        var text = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 40));

        var expected = Local(local, text, SamplingParameters.Greedy, 6);
        var actual = await RunAsync(driver, local.Tokenizer.Encode(text, addSpecial: true), SamplingParameters.Greedy, 6);

        Assert.True(local.Tokenizer.Encode(text, addSpecial: true).Length > 256);
        Assert.Equal(expected.Select(t => t.Id), actual.Select(t => t.Id));
        Assert.True(pipeline.Servers[0].Host.Status().ForwardCalls >= 2 + 5);
    }

    [Fact]
    public async Task APromptThatDoesNotFitTheContext_IsRefusedBeforeAnyStageWorks()
    {
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F16, "0-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);
        var prompt = Enumerable.Repeat(450, 600).ToArray();
        await Assert.ThrowsAsync<ContextFullException>(async () => await RunAsync(driver, prompt, SamplingParameters.Greedy, 4));
    }
}
