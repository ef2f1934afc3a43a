using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Tessera.Pool.Hardware;

/// <summary>
/// A short measurement of memory-bound read speed (GB/s): all cores sum a large buffer for a fixed
/// time. Stands in until the engine measures a real matvec; good enough to weigh devices.
/// </summary>
public static class MemorySpeedProbe
{
    public static double Measure(int bufferMegabytes = 256, TimeSpan? duration = null)
    {
        if (bufferMegabytes <= 0)
            return 0;
        var budget = duration ?? TimeSpan.FromMilliseconds(200);
        var buffer = GC.AllocateUninitializedArray<float>(bufferMegabytes * 1024 * 1024 / sizeof(float));
        Array.Fill(buffer, 1.0f); // touch every page so the measurement reads RAM, not page faults
        var threads = Environment.ProcessorCount;
        var slice = buffer.Length / threads;
        long bytesRead = 0;
        var stopwatch = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var span = buffer.AsSpan(t * slice, slice);
            long local = 0;
            var sink = 0f;
            while (stopwatch.Elapsed < budget)
            {
                sink += Sum(span);
                local += (long)span.Length * sizeof(float);
            }
            Interlocked.Add(ref bytesRead, local);
            GC.KeepAlive(sink);
        });
        var seconds = stopwatch.Elapsed.TotalSeconds;
        return Math.Round(bytesRead / seconds / 1e9, 1);
    }

    private static float Sum(ReadOnlySpan<float> values)
    {
        var vectors = MemoryMarshal.Cast<float, Vector<float>>(values);
        Vector<float> a = default, b = default;
        var i = 0;
        for (; i + 1 < vectors.Length; i += 2)
        {
            a += vectors[i];
            b += vectors[i + 1];
        }
        return Vector.Sum(a + b);
    }
}
