using System.Text.Json;
using Tessera.Engine.Generation;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Serving;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Serving;

/// <summary>The acceptance tests: tiny-a split over three `tessera stage serve` processes, driven from this process.</summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class StagePipelineProcessTests(ITestOutputHelper output)
{
    private static readonly string Model = TestPaths.Model("tiny-a-q8_0.gguf");
    private static readonly string[] Prompts = ["The quick brown fox", "Once upon a time, in a land far away,", "Hello world! 🦙 Привет", "1 2 3 4 5 6 7 8"];
    private static readonly string[] ThreeStages = ["0-1", "1-3", "3-4"];
    private const int Tokens = 16;

    private static GenerationOptions Greedy(int maxTokens, int top = 0) => new(SamplingParameters.Greedy, maxTokens, top);

    private static async Task<List<GeneratedToken>> GenerateAsync(ITextGenerationService service, string prompt, int maxTokens, CancellationToken cancellation = default)
    {
        var result = new List<GeneratedToken>();
        await foreach (var t in service.GenerateAsync("tiny", service.TokenizePrompt("tiny", prompt), Greedy(maxTokens), cancellation))
            result.Add(t);
        return result;
    }

    /// <summary>`tessera generate` in one process: the exactness reference.</summary>
    private static async Task<List<(int Id, float LogProb)>> TesseraGenerateAsync(string prompt)
    {
        var (code, stdout, stderr) = await TesseraProcess.RunAsync(
            ["generate", "--model", Model, "--prompt", prompt, "--max-tokens", $"{Tokens}", "--temperature", "0", "--threads", "1", "--context", "512", "--output", "json"],
            TimeSpan.FromSeconds(60));
        Assert.True(code == 0, stderr);
        var tokens = new List<(int, float)>();
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.TryGetProperty("id", out var id))
                tokens.Add((id.GetInt32(), json.RootElement.GetProperty("logprob").GetSingle()));
        }
        return tokens;
    }

    [Fact]
    public async Task ThreeStageProcesses_WithF32Activations_MatchTesseraGenerateTokenForToken()
    {
        // arrange
        using var stages = await StageProcesses.StartAsync(Model, "f32", ThreeStages);
        await using var service = await PipelineGenerationService.ConnectAsync(Model, stages.Endpoints, new PipelineGenerationServiceOptions { Id = "tiny" });
        var references = await Task.WhenAll(Prompts.Take(2).Select(TesseraGenerateAsync));

        for (var p = 0; p < references.Length; p++)
        {
            // act
            var actual = await GenerateAsync(service, Prompts[p], Tokens);

            // assert: the same tokens, log-probabilities within 1e-5
            var expected = references[p];
            Assert.Equal(expected.Select(t => t.Id), actual.Select(t => t.Id));
            var maxDiff = expected.Zip(actual, (e, a) => Math.Abs(e.LogProb - a.LogProb)).Max();
            output.WriteLine($"f32, \"{Prompts[p]}\": {actual.Count} tokens identical, max |logprob difference| {maxDiff:E2}");
            Assert.InRange(maxDiff, 0, 1e-5);
        }
    }

    [Fact]
    public async Task ThreeStageProcesses_WithF16Activations_AgreementIsReported()
    {
        using var stages = await StageProcesses.StartAsync(Model, "f16", ThreeStages);
        await using var service = await PipelineGenerationService.ConnectAsync(Model, stages.Endpoints, new PipelineGenerationServiceOptions { Id = "tiny" });
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);

        int same = 0, total = 0;
        double maxDiff = 0;
        foreach (var prompt in Prompts)
        {
            var expected = local.Generator.Generate(local.Tokenizer.Encode(prompt, addSpecial: true), SamplingParameters.Greedy, Tokens, new GenerationStats()).ToList();
            var actual = await GenerateAsync(service, prompt, Tokens);
            var agreeing = expected.Zip(actual).TakeWhile(x => x.First.Id == x.Second.Id).Count();
            same += agreeing;
            total += expected.Count;
            maxDiff = Math.Max(maxDiff, expected.Zip(actual).Take(agreeing).Select(x => Math.Abs(x.First.LogProb - x.Second.LogProb)).DefaultIfEmpty(0).Max());
            output.WriteLine($"f16, \"{prompt}\": first {agreeing} of {expected.Count} tokens agree");
            Assert.Equal(expected[0].Id, actual[0].Id);
        }
        output.WriteLine($"f16 activations: {same}/{total} tokens agree before the first divergence; max |logprob difference| on agreeing tokens {maxDiff:E2}");
    }

    [Fact]
    public async Task FourConcurrentSessions_MatchEachAlone_AndACancelledSessionIsFreedOnEveryStage()
    {
        // arrange
        using var stages = await StageProcesses.StartAsync(Model, "f32", ThreeStages);
        await using var service = await PipelineGenerationService.ConnectAsync(Model, stages.Endpoints, new PipelineGenerationServiceOptions { Id = "tiny" });
        var alone = new List<List<int>>();
        foreach (var prompt in Prompts)
            alone.Add((await GenerateAsync(service, prompt, Tokens)).Select(t => t.Id).ToList());

        // act: four at once, and a fifth cancelled midway
        using var cts = new CancellationTokenSource();
        var cancelled = Task.Run(async () =>
        {
            var n = 0;
            await foreach (var _ in service.GenerateAsync("tiny", service.TokenizePrompt("tiny", "A long story"), Greedy(400), cts.Token))
            {
                if (++n == 3)
                    await cts.CancelAsync();
            }
        });
        var together = await Task.WhenAll(Prompts.Select(p => GenerateAsync(service, p, Tokens)));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        // assert
        for (var i = 0; i < Prompts.Length; i++)
            Assert.Equal(alone[i], together[i].Select(t => t.Id));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        Tessera.Serving.Protocol.StageStatus[] status;
        while ((status = await service.Driver.StatusAsync()).Any(s => s.LiveSessions != 0) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.All(status, s => Assert.Equal(0, s.LiveSessions));
        Assert.All(status, s => Assert.Equal(0, s.KvBytes));
        Assert.All(stages.Processes, p => Assert.False(p.HasExited, stages.Output));
    }

    [Fact]
    public async Task AStageProcessKilledMidGeneration_FailsTheSessionWithAClearError_AndOtherStagesFreeIt()
    {
        using var stages = await StageProcesses.StartAsync(Model, "f16", ThreeStages);
        await using var driver = await PipelineDriver.ConnectAsync(stages.Endpoints);

        var error = await Assert.ThrowsAsync<PipelineException>(async () =>
        {
            var n = 0;
            await foreach (var _ in driver.GenerateAsync(new PipelineRequest([1, 450, 4996], SamplingParameters.Greedy, 400)))
            {
                if (++n == 3)
                    stages.Processes[2].Kill();
            }
        });

        output.WriteLine(error.Message);
        Assert.Contains(stages.Endpoints[2], error.Message);
        using var channel = StageChannels.Create(stages.Endpoints[0], null);
        var first = new Tessera.Serving.Protocol.Stage.StageClient(channel);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await first.StatusAsync(new Tessera.Serving.Protocol.StatusRequest())).LiveSessions != 0 && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.Equal(0, (await first.StatusAsync(new Tessera.Serving.Protocol.StatusRequest())).LiveSessions);
    }

    /// <summary>Starts a `tessera stage serve` process for the lost stage's range and puts it in the chain.</summary>
    private sealed class ReplaceStageProcess(string range, int index) : IPipelineRecovery, IDisposable
    {
        private readonly List<StageProcesses> _started = [];

        public int Calls { get; private set; }

        public async Task<IReadOnlyList<string>> ReplaceAsync(PipelineFailure failure, CancellationToken cancellation)
        {
            Calls++;
            var replacement = await StageProcesses.StartAsync(Model, "f32", range);
            _started.Add(replacement);
            var endpoints = failure.Endpoints.ToList();
            endpoints[index] = replacement.Endpoints[0];
            return endpoints;
        }

        public void Dispose()
        {
            foreach (var p in _started)
                p.Dispose();
        }
    }

    [Fact]
    public async Task AMiddleStageProcessKilledMidGeneration_SessionsPauseAndFinishWithTheTextOfARunWithoutFailure()
    {
        // arrange: three stage processes, a recovery that starts a replacement for layers 1-3
        using var stages = await StageProcesses.StartAsync(Model, "f32", ThreeStages);
        using var recovery = new ReplaceStageProcess(ThreeStages[1], 1);
        await using var service = await PipelineGenerationService.ConnectAsync(Model, stages.Endpoints,
            new PipelineGenerationServiceOptions { Id = "tiny", Recovery = recovery, RecoveryTimeout = TimeSpan.FromSeconds(45) });
        // Long enough that the stages (the first feeds tokens back by itself) cannot finish before the kill lands.
        const int n = 160;
        var sessions = new (string Prompt, GenerationOptions Options)[]
        {
            (Prompts[0], Greedy(n)),
            (Prompts[1], Greedy(n)),
            (Prompts[3], new GenerationOptions(new SamplingParameters { Temperature = 0.8f, Seed = 1234 }, n, 0)),
        };
        async Task<List<int>> RunAsync(int i, Action<int>? afterToken = null)
        {
            var ids = new List<int>();
            await foreach (var t in service.GenerateAsync("tiny", service.TokenizePrompt("tiny", sessions[i].Prompt), sessions[i].Options, CancellationToken.None))
            {
                ids.Add(t.Id);
                afterToken?.Invoke(ids.Count);
            }
            return ids;
        }
        var reference = await Task.WhenAll(Enumerable.Range(0, sessions.Length).Select(i => RunAsync(i)));

        // act: kill -9 the middle stage after the first session's 10th token
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var runs = Enumerable.Range(0, sessions.Length).Select(i => RunAsync(i, count =>
        {
            if (i == 0 && count == 10)
                stages.Processes[1].Kill();
        })).ToList();
        var actual = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(60));

        // assert: every session completed with the tokens of the run without failure
        var stats = service.Driver.RecoveryStatistics;
        output.WriteLine($"{sessions.Length} sessions of up to {n} tokens, middle stage killed after 10 tokens: recoveries {stats.Recoveries}, sessions resumed {stats.SessionsResumed}, " +
            $"pause (failure to next token) max {stats.MaxPause.TotalMilliseconds:F0} ms, last {stats.LastPause.TotalMilliseconds:F0} ms; whole run {stopwatch.ElapsedMilliseconds} ms");
        Assert.True(stages.Processes[1].HasExited);
        Assert.Equal(1, recovery.Calls);
        Assert.Equal(1, stats.Recoveries);
        Assert.True(stats.SessionsResumed >= 1);
        for (var i = 0; i < sessions.Length; i++)
        {
            Assert.True(reference[i].Count > 10, $"session {i} is long enough to be cut");
            Assert.Equal(reference[i], actual[i]);
        }
        Assert.NotEqual(stages.Endpoints[1], service.Driver.Endpoints[1]);
    }
}
