using System.Diagnostics;
using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Kernels;
using Tessera.Engine.Model;

namespace Tessera.Engine.Benchmarks;

/// <summary>What <see cref="ModelBenchmark.Run"/> measures: <see cref="Device"/> is created by <see cref="Backends"/> (default: CPU only).</summary>
public sealed record ModelBenchmarkOptions(int Threads, int Runs, int DecodeTokens, int[] PrefillLengths, WeightStorage Weights = WeightStorage.Auto,
    string Device = ComputeDevices.Cpu, IBackendFactory? Backends = null);

public sealed record PrefillResult(int Tokens, double TokensPerSecond, double[] Runs);

public sealed record ModelBenchmarkReport(
    string Model,
    string Backend,
    int Threads,
    IReadOnlyList<PrefillResult> Prefill,
    int DecodeTokens,
    double DecodeTokensPerSecond,
    double[] DecodeRuns,
    double BandwidthGBps,
    double[] BandwidthRuns,
    long WeightBytesPerToken,
    WeightStorage Weights)
{
    /// <summary>Tokens/s if decode read every weight byte once at the measured bandwidth.</summary>
    public double BandwidthBoundTokensPerSecond => BandwidthGBps * 1e9 / WeightBytesPerToken;

    /// <summary>(weight bytes per token x decode tokens/s) / bandwidth.</summary>
    public double DecodeEfficiency => WeightBytesPerToken * DecodeTokensPerSecond / (BandwidthGBps * 1e9);
}

/// <summary>
/// Measures a model's prefill and decode speed and this machine's memory read bandwidth with the same
/// program, medians of several runs (shared machines are noisy).
/// </summary>
public static class ModelBenchmark
{
    /// <summary>Decode steps of the warm-up run (the context must hold them, whatever --decode-tokens says).</summary>
    private const int WarmUpTokens = 4;

    public static ModelBenchmarkReport Run(string path, ModelBenchmarkOptions options, Action<string>? log = null)
    {
        using var file = GgufFile.Open(path);
        using var backend = (options.Backends ?? CpuBackendFactory.Instance).Create(options.Device, options.Threads);
        var config = ModelConfig.FromGguf(file);
        var maxPrompt = options.PrefillLengths.Length == 0 ? 16 : options.PrefillLengths.Max();
        using var stage = new TransformerStage(file, LayerRange.All(config.BlockCount), backend,
            Math.Min(config.ContextLength, Math.Max(maxPrompt, 16 + Math.Max(WarmUpTokens, options.DecodeTokens)) + 1), options.Weights);
        var random = new Random(1234);
        var logits = new float[config.VocabSize];

        log?.Invoke($"warming up {Path.GetFileName(path)} ({backend.Name})");
        RunDecode(stage, random, logits, WarmUpTokens);

        var prefill = new List<PrefillResult>();
        foreach (var length in options.PrefillLengths)
        {
            var runs = new double[options.Runs];
            for (var r = 0; r < runs.Length; r++)
            {
                var tokens = RandomTokens(random, config.VocabSize, length);
                using var cache = stage.CreateCache(length);
                var start = Stopwatch.GetTimestamp();
                stage.Forward([new BatchSequence(cache, length) { PromptLength = length }], tokens, default, logits);
                runs[r] = length / Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
            prefill.Add(new PrefillResult(length, Median(runs), runs));
            log?.Invoke($"prefill {length}: {Median(runs):F1} t/s");
        }

        var decodeRuns = new double[options.Runs];
        for (var r = 0; r < decodeRuns.Length; r++)
            decodeRuns[r] = RunDecode(stage, random, logits, options.DecodeTokens);
        log?.Invoke($"decode: {Median(decodeRuns):F1} t/s");

        var bandwidthRuns = new double[options.Runs];
        for (var r = 0; r < bandwidthRuns.Length; r++)
            bandwidthRuns[r] = backend.MeasureReadBandwidthGBps();
        log?.Invoke($"memory read bandwidth: {Median(bandwidthRuns):F1} GB/s");

        return new ModelBenchmarkReport(path, backend.Name, backend.Threads, prefill, options.DecodeTokens, Median(decodeRuns), decodeRuns,
            Median(bandwidthRuns), bandwidthRuns, stage.Weights.BytesPerToken, stage.Weights.Storage);
    }

    private static double RunDecode(TransformerStage stage, Random random, float[] logits, int tokens)
    {
        using var cache = stage.CreateCache(16 + tokens);
        var prompt = RandomTokens(random, stage.Config.VocabSize, 16);
        stage.Forward([new BatchSequence(cache, prompt.Length) { PromptLength = prompt.Length }], prompt, default, logits);
        var one = new int[1];
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < tokens; i++)
        {
            one[0] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);
            stage.Forward([new BatchSequence(cache, 1) { PromptLength = prompt.Length }], one, default, logits);
        }
        return tokens / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static int[] RandomTokens(Random random, int vocab, int count)
    {
        var tokens = new int[count];
        for (var i = 0; i < count; i++)
            tokens[i] = random.Next(3, vocab);
        return tokens;
    }

    internal static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
