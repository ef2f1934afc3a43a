using System.Diagnostics;
using System.Runtime.CompilerServices;
using Tessera.Cli.Hosting;
using Tessera.Generation;
using Tessera.Generation.Tools;

namespace Tessera.Tests.Dashboard;

public sealed class ServingLiveTests
{
    /// <summary>Streams <see cref="Tokens"/> tokens, the first after <see cref="FirstDelay"/>, the rest <see cref="Between"/> apart.</summary>
    private sealed class PacedGeneration : ITextGenerationService
    {
        public int Tokens { get; init; } = 5;
        public TimeSpan FirstDelay { get; init; } = TimeSpan.FromMilliseconds(120);
        public TimeSpan Between { get; init; } = TimeSpan.FromMilliseconds(30);

        public async IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options, [EnumeratorCancellation] CancellationToken cancellation)
        {
            for (var i = 0; i < Tokens; i++)
            {
                // Task.Delay's timer can fire a fraction of a millisecond before the Stopwatch says the time is up
                // (measured 119.78 ms for 120 in CI): wait out the rest, so the pacing is what the test asserts.
                var paced = Stopwatch.StartNew();
                var wait = i == 0 ? FirstDelay : Between;
                await Task.Delay(wait, cancellation);
                while (paced.Elapsed < wait)
                    await Task.Delay(1, cancellation);
                yield return new GeneratedToken(i, "t", 0, null, i == Tokens - 1 ? FinishReason.Length : null);
            }
        }

        public IReadOnlyList<ServedModel> ListModels() => [];
        public ServedModel? FindModel(string id) => null;
        public bool HasRoom(string model) => true;
        public int[] TokenizeChat(string model, IReadOnlyList<ChatMessage> messages, ChatTools? tools = null) => [1];
        public int[] TokenizePrompt(string model, string prompt) => [1];
        public Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<int[]> inputs, EmbeddingOptions options, CancellationToken cancellation) => throw new NotSupportedException();
    }

    private static async Task<int> DrainAsync(ITextGenerationService service, string model)
    {
        var n = 0;
        await foreach (var _ in service.GenerateAsync(model, [1], new GenerationOptions(SamplingParameters.Greedy, 16), CancellationToken.None))
            n++;
        return n;
    }

    [Fact]
    public async Task Requests_AreCountedInAllAndPerModel_WithTheirFirstTokenAndBetweenTokenTimes()
    {
        var live = new ServingLive(new PacedGeneration());
        var clock = Stopwatch.StartNew();
        Assert.Equal(5, await DrainAsync(live, "a"));
        Assert.Equal(5, await DrainAsync(live, "a"));
        Assert.Equal(5, await DrainAsync(live, "b"));
        // The window ends before the current second, which is still filling: wait for the next one.
        await Task.Delay(TimeSpan.FromSeconds(1.1));
        var view = live.Live();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(ServingLive.WindowSeconds), "the test was too slow for its window");

        Assert.Equal((3L, 15L), (view.Requests, view.Tokens));
        Assert.Equal(15.0 / ServingLive.WindowSeconds, view.TokensPerSecond, 6);
        Assert.InRange(view.TimeToFirstTokenMs, 120, 1000);
        Assert.InRange(view.TokenLatencyMs, 30, 500);
        Assert.True(view.TimeToFirstTokenMs > view.TokenLatencyMs);
        Assert.Equal((2L, 10L), (view.Models!["a"].Requests, view.Models["a"].Tokens));
        Assert.Equal((1L, 5L), (view.Models["b"].Requests, view.Models["b"].Tokens));
    }

    [Fact]
    public async Task AQuietService_ShowsZeros_AndTotalsStay()
    {
        var live = new ServingLive(new PacedGeneration { Tokens = 2, FirstDelay = TimeSpan.Zero, Between = TimeSpan.Zero });
        Assert.Equal((0L, 0.0, 0.0), (live.Live().Tokens, live.Live().TokensPerSecond, live.Live().TimeToFirstTokenMs));
        await DrainAsync(live, "a");
        Assert.Equal(2L, live.Live().Tokens);
        Assert.Empty(new ServingLive(new PacedGeneration()).Live().Models!);
    }
}
