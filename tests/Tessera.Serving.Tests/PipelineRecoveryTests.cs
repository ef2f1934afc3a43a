using Tessera.Engine.Generation;
using Tessera.Engine.Model;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Serving;
using Tessera.Serving.Protocol;
using Tessera.Testing;

namespace Tessera.Serving.Tests;

/// <summary>A stage of an in-process pipeline stops mid-generation; the driver replays its sessions on a replacement.</summary>
public sealed class PipelineRecoveryTests
{
    private static readonly string Model = TestPaths.Model("tiny-a-q8_0.gguf");

    private static Task<StageServer> StartStageAsync(string range) => InProcessStageReplacement.StartStageAsync(Model, range);

    private static InProcessStageReplacement ReplaceStage(InProcessPipeline pipeline, int index, string range) => new(pipeline, Model, index, range);

    private sealed class NoReplacement : IPipelineRecovery
    {
        public int Calls { get; private set; }

        public Task<IReadOnlyList<string>> ReplaceAsync(PipelineFailure failure, CancellationToken cancellation)
        {
            Calls++;
            throw new InvalidOperationException("no spare node holds layers 1-3");
        }
    }

    private static async Task<List<int>> RunAsync(PipelineDriver driver, int[] prompt, SamplingParameters sampling, int maxTokens, Func<int, Task>? afterToken = null)
    {
        var ids = new List<int>();
        await foreach (var t in driver.GenerateAsync(new PipelineRequest(prompt, sampling, maxTokens)))
        {
            ids.Add(t.Id);
            if (afterToken is not null)
                await afterToken(ids.Count);
        }
        return ids;
    }

    [Fact]
    public async Task AMiddleStageStoppedMidGeneration_SessionsPauseAndFinishWithTheSameTokens()
    {
        // arrange
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-1", "1-3", "3-4");
        var recovery = ReplaceStage(pipeline, 1, "1-3");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints, new PipelineDriverOptions { Recovery = recovery });
        var greedyPrompt = local.Tokenizer.Encode("The quick brown fox", addSpecial: true);
        var seededPrompt = local.Tokenizer.Encode("Once upon a time,", addSpecial: true);
        var seeded = new SamplingParameters { Temperature = 0.8f, Seed = 7 };
        var expectedGreedy = local.Generator.Generate(greedyPrompt, SamplingParameters.Greedy, 30, new GenerationStats()).Select(t => t.Id).ToList();
        var expectedSeeded = local.Generator.Generate(seededPrompt, seeded, 30, new GenerationStats()).Select(t => t.Id).ToList();
        var middle = pipeline.Servers[1];
        var killed = 0;

        // act: stop the middle stage after the greedy session's 8th token
        var seededRun = RunAsync(driver, seededPrompt, seeded, 30);
        var greedyRun = RunAsync(driver, greedyPrompt, SamplingParameters.Greedy, 30, async n =>
        {
            if (n == 8 && Interlocked.Exchange(ref killed, 1) == 0)
            {
                pipeline.Servers.Remove(middle);
                await middle.AbortAsync();
            }
        });
        var results = await Task.WhenAll(greedyRun, seededRun).WaitAsync(TimeSpan.FromSeconds(60));

        // assert
        Assert.Equal(expectedGreedy, results[0]);
        Assert.Equal(expectedSeeded, results[1]);
        Assert.Single(recovery.Calls);
        var stats = driver.RecoveryStatistics;
        Assert.Equal(1, stats.Recoveries);
        Assert.InRange(stats.SessionsResumed, 1, 2);
        Assert.True(stats.MaxPause > TimeSpan.Zero);
        Assert.Equal(recovery.Calls[0].Endpoints[0], driver.Endpoints[0]);
        Assert.NotEqual(recovery.Calls[0].Endpoints[1], driver.Endpoints[1]);
        Assert.Equal(middle.Address, recovery.Calls[0].UnreachableEndpoint);
    }

    [Fact]
    public async Task TheLastStageStopped_TheFailureNamesItAsUnreachable_ThroughTheStagesBeforeIt()
    {
        // arrange: three stages; the last one's loss is seen by the middle stage and passed up through the first
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-1", "1-3", "3-4");
        var recovery = ReplaceStage(pipeline, 2, "3-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints, new PipelineDriverOptions { Recovery = recovery });
        var expected = await RunAsync(driver, [1, 450, 4996], SamplingParameters.Greedy, 24).WaitAsync(TimeSpan.FromSeconds(60));
        var last = pipeline.Servers[2];

        // act
        var ids = await RunAsync(driver, [1, 450, 4996], SamplingParameters.Greedy, 24, async n =>
        {
            if (n == 5)
            {
                pipeline.Servers.Remove(last);
                await last.AbortAsync();
            }
        }).WaitAsync(TimeSpan.FromSeconds(60));

        // assert
        Assert.Equal(expected, ids);
        var failure = Assert.Single(recovery.Calls);
        Assert.True(last.Address == failure.UnreachableEndpoint, $"{failure.UnreachableEndpoint} named; stages {string.Join(", ", failure.Endpoints)}; {failure.Reason}");
        Assert.Contains(last.Address, failure.Reason);
    }

    [Fact]
    public async Task WhenNoReplacementCanBeStarted_SessionsFailRetryably_AfterTheBoundedTries()
    {
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-1", "1-3", "3-4");
        var recovery = new NoReplacement();
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints, new PipelineDriverOptions { Recovery = recovery, MaxReplaceAttempts = 2 });
        var middle = pipeline.Servers[1];

        var error = await Assert.ThrowsAsync<PipelineException>(() => RunAsync(driver, [1, 450, 4996], SamplingParameters.Greedy, 400, async n =>
        {
            if (n == 3)
            {
                pipeline.Servers.Remove(middle);
                await middle.AbortAsync();
            }
        }).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.True(error.IsRetryable);
        Assert.Contains("no spare node holds layers 1-3", error.Message);
        Assert.Equal(2, recovery.Calls);
        Assert.Equal(1, driver.RecoveryStatistics.FailedRecoveries);
        var next = await Assert.ThrowsAsync<PipelineException>(() => RunAsync(driver, [1, 450], SamplingParameters.Greedy, 4));
        Assert.True(next.IsRetryable);
    }

    [Fact]
    public async Task ASessionPastItsRecoveryBound_FailsRetryably_WhileTheRebuiltPipelineServesNewSessions()
    {
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-1", "1-3", "3-4");
        var recovery = ReplaceStage(pipeline, 1, "1-3");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints, new PipelineDriverOptions { Recovery = recovery, MaxRecoveriesPerSession = 0 });
        var middle = pipeline.Servers[1];

        var error = await Assert.ThrowsAsync<PipelineException>(() => RunAsync(driver, [1, 450, 4996], SamplingParameters.Greedy, 400, async n =>
        {
            if (n == 3)
            {
                pipeline.Servers.Remove(middle);
                await middle.AbortAsync();
            }
        }).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.True(error.IsRetryable);
        Assert.Contains("retry the request", error.Message);
        var after = await RunAsync(driver, [1, 450], SamplingParameters.Greedy, 4).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(4, after.Count);
    }
}
