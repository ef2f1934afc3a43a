using Tessera.Engine.Backends;

namespace Tessera.Bench;

/// <summary>
/// Prefill attention of one layer (TinyLlama shape: 32 heads, 4 KV heads, head size 64) on one thread, median of
/// thread CPU time.
/// <c>dotnet run -c Release --project bench/Tessera.Bench -- attention [tokens]</c>
/// </summary>
public static unsafe class AttentionBench
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, long* timespec);

    private static double CpuSeconds()
    {
        long* ts = stackalloc long[2];
        ClockGetTime(3, ts); // CLOCK_THREAD_CPUTIME_ID
        return ts[0] + ts[1] / 1e9;
    }

    public static void Run(string[] args)
    {
        var tokens = args.Length > 1 ? int.Parse(args[1]) : 512;
        const int heads = 32, kvHeads = 4, d = 64;
        var rng = new Random(3);
        float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var q = Rand(tokens * heads * d);
        var k = Rand(tokens * kvHeads * d);
        var v = Rand(tokens * kvHeads * d);
        var o = new float[q.Length];
        var scores = new float[tokens];
        var shape = new AttentionShape(tokens, 0, heads, kvHeads, d, 0.125f);
        var times = new List<double>();
        for (var rep = 0; rep < 7; rep++)
        {
            var t0 = CpuSeconds();
            FloatKernels.Attention(q, k, v, o, shape, 0, heads, scores);
            times.Add(CpuSeconds() - t0);
        }
        times.Sort();
        Console.WriteLine($"attention, {tokens} tokens, {heads} heads, one layer, one thread: {times[3] * 1e3:F1} ms (median of 7)");
    }
}
