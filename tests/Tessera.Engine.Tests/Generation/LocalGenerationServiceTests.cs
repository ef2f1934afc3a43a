using Tessera.Engine.Generation;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Generation;

public sealed class LocalGenerationServiceTests : IDisposable
{
    private readonly LocalModel _model = LocalModel.Load(TestPaths.Model("tiny-a-q8_0.gguf"), threads: 2);

    public void Dispose() => _model.Dispose();

    private static async Task<List<GeneratedToken>> Collect(ITextGenerationService service, string model, int[] prompt, GenerationOptions options, CancellationToken ct = default)
    {
        var tokens = new List<GeneratedToken>();
        await foreach (var t in service.GenerateAsync(model, prompt, options, ct))
            tokens.Add(t);
        return tokens;
    }

    [Fact]
    public async Task Greedy_EqualsTheSingleSessionGenerator()
    {
        using var service = new LocalGenerationService(_model, "tiny");
        var prompt = service.TokenizePrompt("tiny", "The quick brown fox");
        var stats = new GenerationStats();
        var expected = _model.Generator.Generate(prompt, SamplingParameters.Greedy, 12, stats).ToList();

        var actual = await Collect(service, "tiny", prompt, new GenerationOptions(SamplingParameters.Greedy, 12));

        Assert.Equal(expected.Select(t => t.Id), actual.Select(t => t.Id));
        Assert.Equal(expected.Select(t => t.LogProb), actual.Select(t => t.LogProb));
        Assert.Equal(string.Concat(expected.Select(t => t.Text)), string.Concat(actual.Select(t => t.Text)));
    }

    [Fact]
    public async Task ConcurrentSessions_GiveTheSameTokensAsAlone()
    {
        using var service = new LocalGenerationService(_model, "tiny");
        string[] prompts = ["Once upon a time", "The capital of France is", "1, 2, 3, 4,", "In a hole in the ground there lived"];
        var options = new GenerationOptions(new SamplingParameters { Temperature = 0.9f, Seed = 7 }, 10, TopLogProbs: 2);
        var alone = new List<int[]>();
        foreach (var p in prompts)
            alone.Add((await Collect(service, "tiny", service.TokenizePrompt("tiny", p), options)).Select(t => t.Id).ToArray());

        var together = await Task.WhenAll(prompts.Select(p => Collect(service, "tiny", service.TokenizePrompt("tiny", p), options)));

        for (var i = 0; i < prompts.Length; i++)
            Assert.Equal(alone[i], together[i].Select(t => t.Id).ToArray());
        Assert.All(together, t => Assert.All(t, token => Assert.Equal(2, token.TopLogProbs!.Length)));
    }

    [Fact]
    public async Task CancelledSession_IsDroppedAndTheNextRequestRuns()
    {
        using var service = new LocalGenerationService(_model, "tiny");
        var prompt = service.TokenizePrompt("tiny", "Hello");
        using var cts = new CancellationTokenSource();
        var received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in service.GenerateAsync("tiny", prompt, new GenerationOptions(SamplingParameters.Greedy, 1000), cts.Token))
            {
                if (++received == 3)
                    cts.Cancel();
            }
        });

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (service.ActiveSessions > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(10);
        Assert.Equal(0, service.ActiveSessions);
        Assert.Equal(4, (await Collect(service, "tiny", prompt, new GenerationOptions(SamplingParameters.Greedy, 4))).Count);
    }

    [Fact]
    public async Task BeyondCapacity_IsRefusedWithRetryAfter()
    {
        using var service = new LocalGenerationService(_model, "tiny", new LocalGenerationServiceOptions { MaxActiveSessions = 1, MaxQueuedSessions = 1 });
        var prompt = service.TokenizePrompt("tiny", "Hello");
        Assert.True(service.HasRoom("tiny"));
        using var cts = new CancellationTokenSource();
        // Sessions that cannot end early (no end-of-generation stop) hold the one slot and the one queue place.
        var endless = new GenerationOptions(SamplingParameters.Greedy, 3000, IgnoreEndOfGeneration: true);
        var long1 = Collect(service, "tiny", prompt, endless, cts.Token);
        var long2 = Collect(service, "tiny", prompt, endless, cts.Token);
        while (service.ActiveSessions + service.QueuedSessions < 2)
            await Task.Delay(5);
        Assert.False(service.HasRoom("tiny")); // what /v1 asks before it tokenizes a request

        var e = await Assert.ThrowsAsync<CapacityExceededException>(() => Collect(service, "tiny", prompt, new GenerationOptions(SamplingParameters.Greedy, 3)));
        Assert.True(e.RetryAfter > TimeSpan.Zero);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => long1);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => long2);
    }

    [Fact]
    public async Task BadRequests_GetTypedErrors()
    {
        using var service = new LocalGenerationService(_model, "tiny", new LocalGenerationServiceOptions { ContextLength = 16 });
        await Assert.ThrowsAsync<UnknownModelException>(() => Collect(service, "nope", [1, 2], new GenerationOptions(SamplingParameters.Greedy, 2)));
        await Assert.ThrowsAsync<ContextFullException>(() => Collect(service, "tiny", Enumerable.Repeat(100, 16).ToArray(), new GenerationOptions(SamplingParameters.Greedy, 2)));
        await Assert.ThrowsAsync<ArgumentException>(() => Collect(service, "tiny", [1, 2], new GenerationOptions(SamplingParameters.Greedy with { TopP = 3 }, 2)));
    }

    [Fact]
    public async Task IgnoreEndOfGeneration_RunsToTheTokenBudget()
    {
        using var service = new LocalGenerationService(_model, "tiny");
        var prompt = service.TokenizePrompt("tiny", "Hello");
        var tokens = await Collect(service, "tiny", prompt, new GenerationOptions(SamplingParameters.Greedy, 300, IgnoreEndOfGeneration: true));
        Assert.Equal(300, tokens.Count);
    }

    [Fact]
    public void ModelWithoutTemplate_UsesChatMl()
    {
        using var service = new LocalGenerationService(_model, "tiny");
        var ids = service.TokenizeChat("tiny", [new ChatMessage("user", "Hi")]);
        var text = _model.Tokenizer.Decode(ids, renderSpecial: true);
        Assert.Contains("<|im_start|>user", text);
        Assert.EndsWith("assistant\n", text);
    }
    [Fact]
    public async Task WaitingInteractiveSessions_AreAdmittedBeforeWaitingBackgroundOnes()
    {
        using var service = new LocalGenerationService(_model, "tiny", new LocalGenerationServiceOptions { MaxActiveSessions = 1, MaxQueuedSessions = 4 });
        var prompt = service.TokenizePrompt("tiny", "Once upon a time");
        var order = new System.Collections.Concurrent.ConcurrentQueue<string>();
        async Task Run(string name, GenerationOptions options)
        {
            var first = true;
            await foreach (var _ in service.GenerateAsync("tiny", prompt, options, default))
            {
                if (first)
                    order.Enqueue(name);
                first = false;
            }
        }

        var holder = Run("holder", new GenerationOptions(SamplingParameters.Greedy, 200, IgnoreEndOfGeneration: true) { Background = true });
        while (order.IsEmpty)
            await Task.Delay(5);
        var batchLine = Run("batch", new GenerationOptions(SamplingParameters.Greedy, 4) { Background = true });
        while (service.QueuedSessions < 1)
            await Task.Delay(5);
        var interactive = Run("interactive", new GenerationOptions(SamplingParameters.Greedy, 4));
        await Task.WhenAll(holder, batchLine, interactive).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(["holder", "interactive", "batch"], order.ToArray());
    }
}
