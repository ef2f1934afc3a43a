using System.Diagnostics;

namespace Tessera.Bench;

/// <summary>
/// Wall time, or with <c>TESSERA_BENCH_CPUTIME=1</c> (use with one thread) the calling thread's CPU time, which keeps
/// time the thread spent descheduled on a busy machine out of the figures.
/// </summary>
internal static unsafe class BenchClock
{
    public static readonly bool CpuTime = Environment.GetEnvironmentVariable("TESSERA_BENCH_CPUTIME") == "1";

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, long* timespec);

    /// <summary>Ticks of <see cref="Now"/> per second.</summary>
    public static long Frequency => CpuTime ? 1_000_000_000 : Stopwatch.Frequency;

    public static long Now()
    {
        if (!CpuTime)
            return Stopwatch.GetTimestamp();
        long* ts = stackalloc long[2];
        ClockGetTime(3, ts); // CLOCK_THREAD_CPUTIME_ID
        return ts[0] * 1_000_000_000 + ts[1];
    }

    public static double Seconds(long start) => (Now() - start) / (double)Frequency;
}
