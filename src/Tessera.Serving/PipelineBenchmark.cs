using System.Diagnostics;

namespace Tessera.Serving;

/// <summary>What a <see cref="PipelineBenchmark"/> run does: concurrent streams, each a random prompt then a fixed number of tokens.</summary>
public sealed record PipelineBenchmarkOptions(int Streams, int PromptTokens = 16, int DecodeTokens = 64, int Seed = 1234);

/// <summary>
/// Latencies and throughput of one run. Time to first token covers the prompt's prefill and the trip through
/// every stage; per-token latency is the gap between consecutive tokens of a stream; aggregate tokens/s counts
/// every generated token over the run's wall time; decode tokens/s per stream excludes the first token.
/// </summary>
public sealed record PipelineBenchmarkReport(
    int Streams,
    int PromptTokens,
    int DecodeTokens,
    double TimeToFirstTokenP50Ms,
    double TimeToFirstTokenP99Ms,
    double TokenLatencyP50Ms,
    double TokenLatencyP99Ms,
    double AggregateTokensPerSecond,
    double StreamDecodeTokensPerSecond,
    double WallSeconds);

/// <summary>
/// Drives N concurrent streams through a token source (a pipeline of stages, or a whole model in one process,
/// so both are measured the same way) and reports time to first token, per-token latency p50/p99 and
/// aggregate tokens/s.
/// </summary>
public static class PipelineBenchmark
{
    /// <summary>Generates up to the given number of tokens after a prompt, ignoring end-of-generation tokens.</summary>
    public delegate IAsyncEnumerable<int> TokenSource(int[] prompt, int maxTokens, CancellationToken cancellation);

    public static async Task<PipelineBenchmarkReport> RunAsync(TokenSource source, int vocabularySize, PipelineBenchmarkOptions options,
        CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Streams, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.DecodeTokens, 2);
        var random = new Random(options.Seed);
        var prompts = Enumerable.Range(0, options.Streams)
            .Select(_ => Enumerable.Range(0, options.PromptTokens).Select(_ => random.Next(3, vocabularySize)).ToArray())
            .ToArray();
        var start = Stopwatch.GetTimestamp();
        var streams = await Task.WhenAll(prompts.Select(p => Task.Run(() => StreamAsync(source, p, options.DecodeTokens, start, cancellation), cancellation))).ConfigureAwait(false);
        var wall = Stopwatch.GetElapsedTime(start).TotalSeconds;

        var firsts = streams.Select(s => s.FirstMs).ToArray();
        var gaps = streams.SelectMany(s => s.GapsMs).ToArray();
        var tokens = streams.Sum(s => s.Tokens);
        var decodeRates = streams.Where(s => s.Tokens > 1).Select(s => (s.Tokens - 1) / (s.DecodeMs / 1000)).ToArray();
        return new PipelineBenchmarkReport(options.Streams, options.PromptTokens, options.DecodeTokens,
            Percentile(firsts, 0.5), Percentile(firsts, 0.99), Percentile(gaps, 0.5), Percentile(gaps, 0.99),
            tokens / wall, decodeRates.Length == 0 ? 0 : decodeRates.Average(), wall);
    }

    private static async Task<StreamResult> StreamAsync(TokenSource source, int[] prompt, int maxTokens, long start, CancellationToken cancellation)
    {
        var gaps = new List<double>(maxTokens);
        double first = 0;
        long previous = 0;
        long firstAt = 0;
        var count = 0;
        var began = Stopwatch.GetTimestamp();
        await foreach (var _ in source(prompt, maxTokens, cancellation).ConfigureAwait(false))
        {
            var now = Stopwatch.GetTimestamp();
            if (count == 0)
            {
                first = Stopwatch.GetElapsedTime(began, now).TotalMilliseconds;
                firstAt = now;
            }
            else
            {
                gaps.Add(Stopwatch.GetElapsedTime(previous, now).TotalMilliseconds);
            }
            previous = now;
            count++;
        }
        return new StreamResult(first, gaps, count, count > 1 ? Stopwatch.GetElapsedTime(firstAt, previous).TotalMilliseconds : 0);
    }

    /// <summary>
    /// The same workload on a whole model in this process, the baseline: streams prefill one after another, then
    /// decode in lock-step, one forward pass over all of them per token (what continuous batching does).
    /// </summary>
    public static PipelineBenchmarkReport RunLocal(Engine.Model.TransformerStage stage, PipelineBenchmarkOptions options)
    {
        if (!stage.IsFirst || !stage.IsLast)
            throw new ArgumentException("The local baseline needs a stage holding the whole model.", nameof(stage));
        var vocab = stage.Config.VocabSize;
        var random = new Random(options.Seed);
        var n = options.Streams;
        var caches = Enumerable.Range(0, n).Select(_ => stage.CreateCache(options.PromptTokens + options.DecodeTokens + 1)).ToArray();
        var logits = new float[n * vocab];
        var next = new int[n];
        var firsts = new double[n];
        var gaps = new List<double>();
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < n; i++)
        {
            var prompt = Enumerable.Range(0, options.PromptTokens).Select(_ => random.Next(3, vocab)).ToArray();
            stage.Forward([new Engine.Model.BatchSequence(caches[i], prompt.Length)], prompt, default, logits.AsSpan(0, vocab));
            next[i] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan(0, vocab));
            firsts[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        var decodeStart = Stopwatch.GetTimestamp();
        var previous = decodeStart;
        var batch = caches.Select(c => new Engine.Model.BatchSequence(c, 1)).ToArray();
        for (var step = 1; step < options.DecodeTokens; step++)
        {
            stage.Forward(batch, next, default, logits);
            for (var i = 0; i < n; i++)
                next[i] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan(i * vocab, vocab));
            var now = Stopwatch.GetTimestamp();
            var gap = Stopwatch.GetElapsedTime(previous, now).TotalMilliseconds;
            for (var i = 0; i < n; i++)
                gaps.Add(gap);
            previous = now;
        }
        var wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var decodeSeconds = Stopwatch.GetElapsedTime(decodeStart, previous).TotalSeconds;
        foreach (var cache in caches)
            cache.Dispose();
        var g = gaps.ToArray();
        return new PipelineBenchmarkReport(n, options.PromptTokens, options.DecodeTokens, Percentile(firsts, 0.5), Percentile(firsts, 0.99),
            Percentile(g, 0.5), Percentile(g, 0.99), n * options.DecodeTokens / wall, (options.DecodeTokens - 1) / decodeSeconds, wall);
    }

    /// <summary>Nearest-rank percentile; 0 for no values.</summary>
    internal static double Percentile(double[] values, double p)
    {
        if (values.Length == 0)
            return 0;
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    private sealed record StreamResult(double FirstMs, List<double> GapsMs, int Tokens, double DecodeMs);
}
