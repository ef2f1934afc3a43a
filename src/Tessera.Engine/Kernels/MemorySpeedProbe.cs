namespace Tessera.Engine.Kernels;

/// <summary>
/// This machine's memory-bound read speed (GB/s) on all cores: what decode (a chain of matrix-vector products) runs
/// at. An agent reports it with its hardware, so the planner weighs devices by what they do.
/// </summary>
public static class MemorySpeedProbe
{
    /// <param name="bufferMegabytes">Buffer read; far larger than the caches. 0 or less skips the measurement.</param>
    public static double Measure(int bufferMegabytes = 256)
    {
        if (bufferMegabytes <= 0)
            return 0;
        using var pool = new WorkerPool(Environment.ProcessorCount);
        return Math.Round(MemoryBandwidth.MeasureReadGBps(pool, (long)Math.Max(bufferMegabytes, 1) << 20, repetitions: 3), 1);
    }
}
