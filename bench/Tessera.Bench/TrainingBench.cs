using System.Diagnostics;
using System.Runtime.Intrinsics;
using Tessera.Training;

namespace Tessera.Bench;

/// <summary>
/// Training throughput: tokens/s of <see cref="LlamaModel.ForwardBackward"/> on the evidence run's shape (vocab 32000,
/// dim 128, 4 layers, 4 heads on 2 kv heads, hidden 384) with B sequences of T tokens, per thread count, against the
/// bound the machine's f32 FMA rate sets (measured with a register-only FMA loop on as many threads).
/// <c>dotnet run -c Release --project bench/Tessera.Bench -- training [steps] [threads,threads...]</c>
/// </summary>
public static class TrainingBench
{
    private static readonly LlamaConfig Shape = new(Vocab: 32000, Dim: 128, Layers: 4, Heads: 4, KvHeads: 2, HiddenDim: 384);
    private const int Sequences = 4, Length = 64;

    public static void Run(string[] args)
    {
        var steps = args.Length > 1 ? int.Parse(args[1]) : 5;
        var threadCounts = args.Length > 2 ? args[2].Split(',').Select(int.Parse).ToArray() : [1, 2];
        var c = Shape;
        var model = new LlamaModel(c);
        model.Initialize(seed: 1);
        var n = Sequences * Length;
        var rng = new Random(2);
        var tokens = Enumerable.Range(0, n).Select(_ => rng.Next(c.Vocab)).ToArray();
        var targets = Enumerable.Range(0, n).Select(_ => rng.Next(c.Vocab)).ToArray();
        var flops = StepFlops(c, Sequences, Length);
        Console.WriteLine($"model: {model.Parameters.Length / 1e6:F2}M parameters; B={Sequences} T={Length}; {flops / 1e9:F2} GFLOP a step");
        foreach (var threads in threadCounts)
        {
            SetThreads(model, threads);
            var peak = PeakFlops(threads);
            for (var w = 0; w < 2; w++) model.ForwardBackward(tokens, targets, Sequences); // warm-up: JIT, buffers
            var times = new List<double>();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            for (var s = 0; s < steps; s++)
            {
                var watch = Stopwatch.StartNew();
                model.ForwardBackward(tokens, targets, Sequences);
                times.Add(watch.Elapsed.TotalSeconds);
            }
            var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
            var cores = cpuSeconds / wall.Elapsed.TotalSeconds;
            times.Sort();
            var median = times[times.Count / 2];
            Console.WriteLine(
                $"threads {threads}: step {median * 1e3:F1} ms (median of {steps}, min {times[0] * 1e3:F1}, {cores:F2} cores busy, {cpuSeconds / steps * 1e3:F0} ms CPU a step), {n / median:F0} tokens/s; " +
                $"FMA peak {peak / 1e9:F1} GFLOP/s so bound {flops / peak * 1e3:F1} ms; {flops / median / 1e9:F1} GFLOP/s = {flops / median / peak:P0} of peak");
        }
    }

    /// <summary>The model's thread count, where it has one (the benchmark also builds against a tree without it).</summary>
    private static void SetThreads(LlamaModel model, int threads) =>
        typeof(LlamaModel).GetProperty("Threads")?.SetValue(model, threads);

    /// <summary>6 · (parameters in matrices) · tokens for the linear layers and the head, plus attention's
    /// QKᵀ and PV: 2 · 2 · heads · headDim · T(T+1)/2 a sequence and layer forward, twice that backward.</summary>
    private static double StepFlops(LlamaConfig c, int sequences, int length)
    {
        double hd = c.HeadDim, q = c.Heads * hd, kv = c.KvHeads * hd;
        var perBlock = q * c.Dim + 2 * kv * c.Dim + c.Dim * q + 3.0 * c.HiddenDim * c.Dim;
        var matrices = c.Layers * perBlock + (double)c.Vocab * c.Dim;
        var tokens = (double)sequences * length;
        var attention = 3 * 4.0 * c.Heads * hd * length * (length + 1) / 2 * sequences * c.Layers;
        return 6 * matrices * tokens + attention;
    }

    /// <summary>f32 FLOP/s of independent Vector256 FMA chains held in registers, on <paramref name="threads"/> threads.</summary>
    private static double PeakFlops(int threads)
    {
        const long iterations = 20_000_000;
        var watch = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => FmaLoop(iterations));
        return threads * iterations * 10 * 16.0 / watch.Elapsed.TotalSeconds;
    }

    private static float FmaLoop(long iterations)
    {
        var m = Vector256.Create(0.999f);
        var a = Vector256.Create(1e-3f);
        Vector256<float> x0 = Vector256.Create(1f), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0, x7 = x0, x8 = x0, x9 = x0;
        for (long i = 0; i < iterations; i++)
        {
            x0 = Vector256.FusedMultiplyAdd(x0, m, a); x1 = Vector256.FusedMultiplyAdd(x1, m, a);
            x2 = Vector256.FusedMultiplyAdd(x2, m, a); x3 = Vector256.FusedMultiplyAdd(x3, m, a);
            x4 = Vector256.FusedMultiplyAdd(x4, m, a); x5 = Vector256.FusedMultiplyAdd(x5, m, a);
            x6 = Vector256.FusedMultiplyAdd(x6, m, a); x7 = Vector256.FusedMultiplyAdd(x7, m, a);
            x8 = Vector256.FusedMultiplyAdd(x8, m, a); x9 = Vector256.FusedMultiplyAdd(x9, m, a);
        }
        return Vector256.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9);
    }
}
