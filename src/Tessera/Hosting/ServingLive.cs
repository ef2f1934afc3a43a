using System.Diagnostics;
using System.Runtime.CompilerServices;
using Tessera.Generation;
using Tessera.Generation.Tools;

namespace Tessera.Cli.Hosting;

/// <summary>What the dashboard's charts show: the last <see cref="WindowSeconds"/> of serving, and totals since start.</summary>
public sealed record ServingLiveView(double TokensPerSecond, double TimeToFirstTokenMs, double TokenLatencyMs, int WindowSeconds, long Requests, long Tokens);

/// <summary>
/// The coordinator's generation service as /v1 and the dashboard's chat use it, measured where clients see it: time to
/// first token (from the request to its first token) and the time between tokens, counted into one-second buckets so
/// the dashboard can chart the last few seconds. Everything else passes through.
/// </summary>
internal sealed class ServingLive(ITextGenerationService inner) : ITextGenerationService
{
    public const int WindowSeconds = 10;
    private const int Buckets = 64;

    private readonly Lock _gate = new();
    private readonly Bucket[] _buckets = new Bucket[Buckets];
    private long _requests;
    private long _tokens;

    private struct Bucket
    {
        public long Second;
        public long Tokens;
        public double FirstTokenSeconds;
        public long FirstTokens;
        public double BetweenSeconds;
        public long Betweens;
    }

    public ServingLiveView Live()
    {
        var now = Stopwatch.GetTimestamp() / Stopwatch.Frequency;
        Bucket sum = default;
        lock (_gate)
        {
            // The current second is still filling: the window is the WindowSeconds before it.
            for (var s = now - WindowSeconds; s < now; s++)
            {
                ref var b = ref _buckets[s % Buckets];
                if (b.Second != s)
                    continue;
                sum.Tokens += b.Tokens;
                sum.FirstTokenSeconds += b.FirstTokenSeconds;
                sum.FirstTokens += b.FirstTokens;
                sum.BetweenSeconds += b.BetweenSeconds;
                sum.Betweens += b.Betweens;
            }
            return new ServingLiveView(
                sum.Tokens / (double)WindowSeconds,
                sum.FirstTokens == 0 ? 0 : 1000 * sum.FirstTokenSeconds / sum.FirstTokens,
                sum.Betweens == 0 ? 0 : 1000 * sum.BetweenSeconds / sum.Betweens,
                WindowSeconds, _requests, _tokens);
        }
    }

    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options, [EnumeratorCancellation] CancellationToken cancellation)
    {
        var started = Stopwatch.GetTimestamp();
        var previous = 0L;
        Interlocked.Increment(ref _requests);
        await foreach (var token in inner.GenerateAsync(model, prompt, options, cancellation).ConfigureAwait(false))
        {
            var now = Stopwatch.GetTimestamp();
            Record(now, previous == 0 ? Stopwatch.GetElapsedTime(started, now).TotalSeconds : null, previous == 0 ? null : Stopwatch.GetElapsedTime(previous, now).TotalSeconds);
            previous = now;
            yield return token;
        }
    }

    private void Record(long timestamp, double? firstToken, double? between)
    {
        var second = timestamp / Stopwatch.Frequency;
        Interlocked.Increment(ref _tokens);
        lock (_gate)
        {
            ref var b = ref _buckets[second % Buckets];
            if (b.Second != second)
                b = new Bucket { Second = second };
            b.Tokens++;
            if (firstToken is { } f)
            {
                b.FirstTokenSeconds += f;
                b.FirstTokens++;
            }
            if (between is { } t)
            {
                b.BetweenSeconds += t;
                b.Betweens++;
            }
        }
    }

    public IReadOnlyList<ServedModel> ListModels() => inner.ListModels();

    public ServedModel? FindModel(string id) => inner.FindModel(id);

    public bool HasRoom(string model) => inner.HasRoom(model);

    public int[] TokenizeChat(string model, IReadOnlyList<ChatMessage> messages, ChatTools? tools = null) => inner.TokenizeChat(model, messages, tools);

    public int[] TokenizePrompt(string model, string prompt) => inner.TokenizePrompt(model, prompt);

    public Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<int[]> inputs, EmbeddingOptions options, CancellationToken cancellation) =>
        inner.EmbedAsync(model, inputs, options, cancellation);
}
