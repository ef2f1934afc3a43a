using Tessera.Engine.Kernels;

namespace Tessera.Pool.Hardware;

/// <summary>
/// The node's memory-bound read speed (GB/s), measured with the engine's bandwidth probe on all cores: what
/// decode (a chain of matrix-vector products) runs at, so the planner weighs devices by what they do.
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
