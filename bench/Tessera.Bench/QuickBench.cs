using System.Diagnostics;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Bench;

/// <summary>
/// A fast side-by-side run in one process: each type's 2048 x 5632 product (by default) on each kernel path (timings interleaved,
/// medians), next to the memory read rate measured between them.
/// <c>dotnet run -c Release --project bench/Tessera.Bench -- quick [threads] [paths,comma,separated|best] [types...]</c>
/// With <c>TESSERA_BENCH_CPUTIME=1</c> (use with 1 thread) each run is timed by the thread's CPU time, not wall time,
/// which keeps time the thread spent descheduled on a busy machine out of the figures. <c>TESSERA_BENCH_ROWS</c> and
/// <c>TESSERA_BENCH_COLS</c> change the matrix shape (e.g. 5632 x 2048 for a feed-forward gate), <c>TESSERA_BENCH_MB</c>
/// the total size of its copies, <c>TESSERA_BENCH_TOKENS</c> the token counts (default 1,128; e.g. 1,8 for batched
/// decode); they live on huge pages like a stage's weights (<c>TESSERA_WEIGHTS=map</c>: not).
/// </summary>
public static unsafe class QuickBench
{
    public static void Run(string[] args)
    {
        var threads = args.Length > 1 ? int.Parse(args[1]) : 0;
        var paths = args.Length > 2 && args[2] != "best"
            ? args[2].Split(',').Select(p => Enum.Parse<KernelPath>(p, ignoreCase: true)).Where(KernelPaths.IsSupported).ToArray()
            : [KernelPaths.Best];
        var types = args.Length > 3
            ? args.Skip(3).Select(a => Enum.Parse<GgmlType>(a, ignoreCase: true)).ToArray()
            : [GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.F16, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q5_0, GgmlType.Q5_K, GgmlType.BF16];

        var tokenCounts = (Environment.GetEnvironmentVariable("TESSERA_BENCH_TOKENS") ?? "1,128").Split(',').Select(int.Parse).ToArray();
        using var pool = new WorkerPool(threads);
        var bandwidth = new List<double>();
        void MeasureBandwidth() => bandwidth.Add(MemoryBandwidth.MeasureReadGBps(pool, 512L << 20, 5));
        MeasureBandwidth();

        foreach (var type in types)
        {
            foreach (var tokens in tokenCounts)
            {
                // TESSERA_BENCH_ROWS / TESSERA_BENCH_MB: a smaller, cache-resident matrix measures compute alone.
                var rows = int.TryParse(Environment.GetEnvironmentVariable("TESSERA_BENCH_ROWS"), out var r) ? r : 2048;
                var mb = long.TryParse(Environment.GetEnvironmentVariable("TESSERA_BENCH_MB"), out var m) ? m : 384;
                var cols = int.TryParse(Environment.GetEnvironmentVariable("TESSERA_BENCH_COLS"), out var c) ? c : 5632;
                var fixtures = paths.Select(p => new MatMulFixture(type, rows, cols, tokens, threads, mb << 20, p)).ToArray();
                try
                {
                    var reps = int.TryParse(Environment.GetEnvironmentVariable(tokens == 1 ? "TESSERA_BENCH_REPS1" : "TESSERA_BENCH_REPS"), out var n) ? n : tokens == 1 ? 300 : 5;
                    var times = new double[fixtures.Length][];
                    for (var f = 0; f < fixtures.Length; f++)
                    {
                        times[f] = new double[reps];
                        var warm = Stopwatch.GetTimestamp();
                        while (Stopwatch.GetElapsedTime(warm).TotalMilliseconds < 300)
                            fixtures[f].Run();
                    }
                    for (var i = 0; i < reps; i++)
                        for (var f = 0; f < fixtures.Length; f++)
                        {
                            var start = BenchClock.Now();
                            fixtures[f].Run();
                            times[f][i] = BenchClock.Seconds(start);
                        }
                    for (var f = 0; f < fixtures.Length; f++)
                    {
                        Array.Sort(times[f]);
                        var median = times[f][reps / 2];
                        var gbps = fixtures[f].MatrixBytes / median / 1e9;
                        var gops = 2.0 * rows * cols * tokens / median / 1e9;
                        var best = fixtures[f].MatrixBytes / times[f][0] / 1e9;
                        Console.WriteLine($"{type,-5} tokens={tokens,-4} {paths[f],-7} {median * 1e6,9:F1} us  {gbps,6:F1} GB/s (best {best,5:F1})  {gops,7:F1} GFLOP/s");
                    }
                }
                finally
                {
                    foreach (var f in fixtures)
                        f.Dispose();
                }
            }
            MeasureBandwidth();
        }
        bandwidth.Sort();
        Console.WriteLine($"memory read (median of {bandwidth.Count}): {bandwidth[bandwidth.Count / 2]:F1} GB/s, range {bandwidth[0]:F1}..{bandwidth[^1]:F1} ({pool.Threads} threads)");
    }
}
