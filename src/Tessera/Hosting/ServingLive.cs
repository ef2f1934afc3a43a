using System.Diagnostics;
using System.Runtime.CompilerServices;
using Tessera.Generation;
using Tessera.Generation.Tools;

namespace Tessera.Cli.Hosting;

/// <summary>What the dashboard's charts show: the last <see cref="WindowSeconds"/> of serving, and totals since start.</summary>
public sealed record ServingLiveView(double TokensPerSecond, double TimeToFirstTokenMs, double TokenLatencyMs, int WindowSeconds, long Requests, long Tokens)
{
    /// <summary>The same figures for each model (deployment) served since start.</summary>
    public IReadOnlyDictionary<string, ServingLiveView>? Models { get; init; }

    /// <summary>Sessions generating now (for a model; all models in the total).</summary>
    public int ActiveSessions { get; init; }

    /// <summary>Requests waiting for a session slot now.</summary>
    public int QueuedSessions { get; init; }
}

/// <summary>
/// The coordinator's generation service as /v1 and the dashboard's chat use it, measured where clients see it: time to
/// first token (from the request to its first token) and the time between tokens, counted into one-second buckets so
/// the dashboard can chart the last few seconds, for all models and for each. Everything else passes through.
/// </summary>
internal sealed class ServingLive(ITextGenerationService inner) : ITextGenerationService
{
    public const int WindowSeconds = 10;

    /// <summary>Models followed one by one at most; requests beyond are counted in the total only.</summary>
    private const int MaxModels = 256;

    private readonly ServingWindow _all = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ServingWindow> _models = new(StringComparer.Ordinal);

    public ServingLiveView Live()
    {
        var now = Stopwatch.GetTimestamp() / Stopwatch.Frequency;
        var load = (inner as IGenerationLoad)?.Load() ?? [];
        var models = _models.ToDictionary(m => m.Key, m => m.Value.View(now), StringComparer.Ordinal);
        foreach (var l in load)
        {
            var seen = models.GetValueOrDefault(l.Model) ?? ServingWindow.Empty;
            models[l.Model] = seen with { ActiveSessions = l.ActiveSessions, QueuedSessions = l.QueuedSessions };
        }
        return _all.View(now) with { Models = models, ActiveSessions = load.Sum(l => l.ActiveSessions), QueuedSessions = load.Sum(l => l.QueuedSessions) };
    }

    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options, [EnumeratorCancellation] CancellationToken cancellation)
    {
        var started = Stopwatch.GetTimestamp();
        var previous = 0L;
        var one = _models.Count < MaxModels || _models.ContainsKey(model) ? _models.GetOrAdd(model, _ => new ServingWindow()) : null;
        _all.Started();
        one?.Started();
        await foreach (var token in inner.GenerateAsync(model, prompt, options, cancellation).ConfigureAwait(false))
        {
            var now = Stopwatch.GetTimestamp();
            double? first = previous == 0 ? Stopwatch.GetElapsedTime(started, now).TotalSeconds : null;
            double? between = previous == 0 ? null : Stopwatch.GetElapsedTime(previous, now).TotalSeconds;
            _all.Record(now, first, between);
            one?.Record(now, first, between);
            previous = now;
            yield return token;
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

/// <summary>Tokens, first-token times and between-token times in one-second buckets (the last 64 s), and totals.</summary>
internal sealed class ServingWindow
{
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

    /// <summary>A model served nothing yet.</summary>
    public static readonly ServingLiveView Empty = new(0, 0, 0, ServingLive.WindowSeconds, 0, 0);

    public void Started() => Interlocked.Increment(ref _requests);

    public void Record(long timestamp, double? firstToken, double? between)
    {
        var second = timestamp / Stopwatch.Frequency;
        lock (_gate)
        {
            _tokens++;
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

    /// <summary>The <see cref="ServingLive.WindowSeconds"/> before the current second (which is still filling).</summary>
    public ServingLiveView View(long nowSecond)
    {
        Bucket sum = default;
        lock (_gate)
        {
            for (var s = nowSecond - ServingLive.WindowSeconds; s < nowSecond; s++)
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
                sum.Tokens / (double)ServingLive.WindowSeconds,
                sum.FirstTokens == 0 ? 0 : 1000 * sum.FirstTokenSeconds / sum.FirstTokens,
                sum.Betweens == 0 ? 0 : 1000 * sum.BetweenSeconds / sum.Betweens,
                ServingLive.WindowSeconds, Interlocked.Read(ref _requests), _tokens);
        }
    }
}
