using System.Diagnostics;
using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Engine.Tensors;

namespace Tessera.Bench;

/// <summary>
/// Where decode time goes: runs greedy decode of a whole model through a backend wrapper that times every operation,
/// grouped by operation and matrix name, with the weight bytes each matrix product read.
/// <c>dotnet bench/Tessera.Bench/bin/Release/net10.0/Tessera.Bench.dll profile MODEL.gguf [threads] [tokens] [sessions]</c>
/// With <c>sessions</c> above 1, that many sessions decode together (one forward pass over all of them per step) and
/// figures are per step: compare them with one session's to see what batching costs per operation.
/// </summary>
public static class ProfileBench
{
    public static void Run(string[] args)
    {
        var path = args[1];
        var threads = args.Length > 2 ? int.Parse(args[2]) : Environment.ProcessorCount;
        var tokens = args.Length > 3 ? int.Parse(args[3]) : 64;
        var sessions = args.Length > 4 ? int.Parse(args[4]) : 1;
        using var file = GgufFile.Open(path);
        using var cpu = new CpuBackend(threads);
        var timing = new TimingBackend(cpu);
        var config = ModelConfig.FromGguf(file);
        var stage = new TransformerStage(file, LayerRange.All(config.BlockCount), timing, 16 + tokens + 8);
        var caches = Enumerable.Range(0, sessions).Select(_ => stage.CreateCache()).ToArray();
        var logits = new float[sessions * config.VocabSize];
        var prompt = Enumerable.Range(0, 16).Select(i => 100 + i * 7).ToArray();
        foreach (var cache in caches)
            stage.Forward([new BatchSequence(cache, prompt.Length) { PromptLength = prompt.Length }], prompt, default, logits.AsSpan(0, config.VocabSize));
        for (var s = 1; s < sessions; s++)
            logits.AsSpan(0, config.VocabSize).CopyTo(logits.AsSpan(s * config.VocabSize));
        timing.Reset();
        var next = new int[sessions];
        var batch = caches.Select(c => new BatchSequence(c, 1)).ToArray();
        var start = BenchClock.Now();
        for (var i = 0; i < tokens; i++)
        {
            for (var s = 0; s < sessions; s++)
                next[s] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan(s * config.VocabSize, config.VocabSize));
            stage.Forward(batch, next, default, logits);
        }
        var total = (BenchClock.Now() - start) * 1000.0 / BenchClock.Frequency / tokens;
        Console.WriteLine($"decode {tokens} steps of {sessions} session(s), {threads} threads: {total:F2} ms/step ({1000 * sessions / total:F1} t/s)");
        var accounted = 0.0;
        foreach (var (key, entry) in timing.Entries.OrderByDescending(e => e.Value.Ticks))
        {
            var ms = entry.Ticks * 1000.0 / BenchClock.Frequency / tokens;
            accounted += ms;
            var gbps = entry.Bytes > 0 ? entry.Bytes / (entry.Ticks / (double)BenchClock.Frequency) / 1e9 : 0;
            Console.WriteLine($"{key,-28} {ms,8:F3} ms/step  {entry.Calls / tokens,4} calls  {(gbps > 0 ? $"{gbps,6:F1} GB/s" : "")}");
        }
        Console.WriteLine($"{"(outside backend calls)",-28} {total - accounted,8:F3} ms/step");
    }

    private sealed class Entry
    {
        public long Ticks;
        public long Calls;
        public long Bytes;
    }

    private sealed class TimingBackend(IComputeBackend inner) : IComputeBackend
    {
        public Dictionary<string, Entry> Entries { get; } = [];

        public string Name => inner.Name;
        public int Threads => inner.Threads;

        public void Reset() => Entries.Clear();

        private void Record(string key, long start, long bytes = 0)
        {
            var ticks = BenchClock.Now() - start;
            if (!Entries.TryGetValue(key, out var e))
                Entries[key] = e = new Entry();
            e.Ticks += ticks;
            e.Calls++;
            e.Bytes += bytes;
        }

        private static string Short(string name)
        {
            var dot = name.IndexOf('.');
            var rest = dot >= 0 && name.StartsWith("blk.", StringComparison.Ordinal) ? name[(name.IndexOf('.', dot + 1) + 1)..] : name;
            return rest;
        }

        public BackendBuffer Allocate(int floats) => inner.Allocate(floats);

        public WeightStorage PreferredStorage => inner.PreferredStorage;

        public double MeasureReadBandwidthGBps() => inner.MeasureReadBandwidthGBps();

        public void Prepare(in WeightMatrix w) => inner.Prepare(w);

        public void Upload(ReadOnlySpan<float> source, in BackendTensor destination)
        {
            var s = BenchClock.Now();
            inner.Upload(source, destination);
            Record("copy", s);
        }

        public void Download(in BackendTensor source, Span<float> destination)
        {
            var s = BenchClock.Now();
            inner.Download(source, destination);
            Record("copy", s);
        }

        public void Copy(in BackendTensor source, in BackendTensor destination)
        {
            var s = BenchClock.Now();
            inner.Copy(source, destination);
            Record("copy", s);
        }

        public void MatMul(in WeightMatrix w, in BackendTensor x, in BackendTensor y, int tokens)
        {
            var s = BenchClock.Now();
            inner.MatMul(w, x, y, tokens);
            Record("matmul " + Short(w.Name), s, w.ByteSize);
        }

        public void MatMulGroup(ReadOnlySpan<WeightMatrix> weights, in BackendTensor x, in BackendTensor y, int tokens)
        {
            var s = BenchClock.Now();
            inner.MatMulGroup(weights, x, y, tokens);
            long bytes = 0;
            var names = new List<string>();
            foreach (var w in weights)
            {
                bytes += w.ByteSize;
                names.Add(Short(w.Name).Replace(".weight", ""));
            }
            Record("group " + string.Join('+', names), s, bytes);
        }

        public void GetRows(in WeightMatrix w, ReadOnlySpan<int> rows, in BackendTensor output)
        {
            var s = BenchClock.Now();
            inner.GetRows(w, rows, output);
            Record("getrows", s);
        }

        public void RmsNorm(in BackendTensor x, in BackendTensor weight, in BackendTensor y, int tokens, float eps)
        {
            var s = BenchClock.Now();
            inner.RmsNorm(x, weight, y, tokens, eps);
            Record("rmsnorm", s);
        }

        public void SwiGlu(in BackendTensor gate, in BackendTensor up, in BackendTensor output)
        {
            var s = BenchClock.Now();
            inner.SwiGlu(gate, up, output);
            Record("swiglu", s);
        }

        public void GeGlu(in BackendTensor gate, in BackendTensor up, in BackendTensor output)
        {
            var s = BenchClock.Now();
            inner.GeGlu(gate, up, output);
            Record("geglu", s);
        }

        public void Scale(in BackendTensor x, float factor)
        {
            var s = BenchClock.Now();
            inner.Scale(x, factor);
            Record("scale", s);
        }

        public void SoftCap(in BackendTensor x, float cap)
        {
            var s = BenchClock.Now();
            inner.SoftCap(x, cap);
            Record("softcap", s);
        }

        public void Add(in BackendTensor a, in BackendTensor b, in BackendTensor y)
        {
            var s = BenchClock.Now();
            inner.Add(a, b, y);
            Record("add", s);
        }

        public void AddBias(in BackendTensor rows, in BackendTensor bias, int tokens)
        {
            var s = BenchClock.Now();
            inner.AddBias(rows, bias, tokens);
            Record("add", s);
        }

        public void RoundToHalf(in BackendTensor x)
        {
            var s = BenchClock.Now();
            inner.RoundToHalf(x);
            Record("round", s);
        }

        public void RoundToBFloat16(in BackendTensor x)
        {
            var s = BenchClock.Now();
            inner.RoundToBFloat16(x);
            Record("round", s);
        }

        public void Rope(in BackendTensor x, int tokens, int heads, int headDim, int startPosition, RopeTable table)
        {
            var s = BenchClock.Now();
            inner.Rope(x, tokens, heads, headDim, startPosition, table);
            Record("rope", s);
        }

        public void AttentionBatch(in BackendTensor queries, ReadOnlySpan<AttentionSequence> sequences, in BackendTensor output)
        {
            var s = BenchClock.Now();
            inner.AttentionBatch(queries, sequences, output);
            Record("attention", s);
        }

        public void Dispose()
        {
        }
    }
}
