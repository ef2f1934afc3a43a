using Tessera.Engine.Generation;
using Tessera.Generation;

namespace Tessera.Engine.Benchmarks;

/// <summary>Free and grammar-constrained decode of the same model, alternating, with real sampling.</summary>
public sealed record ConstrainedDecodeReport(
    string Model,
    string Backend,
    int Threads,
    int MaxTokens,
    double FreeTokensPerSecond,
    double[] FreeRuns,
    double ConstrainedTokensPerSecond,
    double[] ConstrainedRuns,
    double RefusedShare,
    double FreeSamplingMicroseconds,
    double ConstrainedSamplingMicroseconds)
{
    /// <summary>Constrained over free decode tokens/s (the target is at least 0.9).</summary>
    public double Ratio => ConstrainedTokensPerSecond / FreeTokensPerSecond;

    /// <summary>
    /// What the grammar adds to a token, as a share of a free token's time: (constrained - free sampling time per
    /// token) x free tokens/s. Timed inside the same process, so far less noisy than <see cref="Ratio"/> on a busy machine.
    /// </summary>
    public double GrammarShareOfToken => (ConstrainedSamplingMicroseconds - FreeSamplingMicroseconds) * 1e-6 * FreeTokensPerSecond;
}

/// <summary>
/// What a grammar costs at decode: the same prompt and sampling (llama.cpp's defaults, a new seed per round) with and
/// without the grammar, in alternating rounds so that a noisy machine slows both alike. Tokens/s counts the tokens
/// after the first, as <see cref="GenerationStats.DecodeTokensPerSecond"/> does; a constrained run may end early
/// (its document complete), which leaves its rate comparable. <see cref="ConstrainedDecodeReport.RefusedShare"/> is
/// the share of tokens whose first draw the grammar refused, each of which cost a mask.
/// </summary>
public static class ConstrainedDecodeBenchmark
{
    public static ConstrainedDecodeReport Run(string path, string grammar, int threads, int runs, int maxTokens, Action<string>? log = null)
    {
        using var model = LocalModel.Load(path, threads, contextLength: 64 + maxTokens);
        var prompt = model.Tokenizer.Encode("Answer in JSON:", addSpecial: true);
        var free = new double[runs];
        var constrained = new double[runs];
        long refused = 0, generated = 0, freeTokens = 0;
        TimeSpan freeSampling = default, constrainedSampling = default;

        log?.Invoke($"warming up {Path.GetFileName(path)}");
        Decode(model, prompt, null, 0, Math.Min(16, maxTokens));
        Decode(model, prompt, grammar, 0, maxTokens);
        for (var r = 0; r < runs; r++)
        {
            var freeStats = Decode(model, prompt, null, (ulong)r + 1, maxTokens);
            free[r] = freeStats.DecodeTokensPerSecond;
            freeSampling += freeStats.SamplingTime;
            freeTokens += freeStats.GeneratedTokens;
            var stats = Decode(model, prompt, grammar, (ulong)r + 1, maxTokens);
            constrainedSampling += stats.SamplingTime;
            constrained[r] = stats.DecodeTokensPerSecond;
            refused += stats.GrammarRedraws;
            generated += stats.GeneratedTokens;
            log?.Invoke($"round {r + 1}: free {free[r]:F1} t/s, constrained {constrained[r]:F1} t/s ({stats.GeneratedTokens} tokens, {stats.GrammarRedraws} redrawn)");
        }
        return new ConstrainedDecodeReport(path, model.Stage.Backend.Name, model.Stage.Backend.Threads, maxTokens, ModelBenchmark.Median(free), free, ModelBenchmark.Median(constrained), constrained,
            generated == 0 ? 0 : (double)refused / generated,
            freeTokens == 0 ? 0 : freeSampling.TotalMicroseconds / freeTokens, generated == 0 ? 0 : constrainedSampling.TotalMicroseconds / generated);
    }

    private static GenerationStats Decode(LocalModel model, int[] prompt, string? grammar, ulong seed, int maxTokens)
    {
        var stats = new GenerationStats();
        var sampling = new SamplingParameters { Seed = seed };
        foreach (var _ in model.Generator.Generate(prompt, sampling, maxTokens, stats, grammar: grammar))
        {
        }
        return stats;
    }
}
