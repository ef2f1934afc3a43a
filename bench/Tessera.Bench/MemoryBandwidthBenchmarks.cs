using BenchmarkDotNet.Attributes;
using Tessera.Engine.Kernels;

namespace Tessera.Bench;

/// <summary>The streaming read rate the decode products are compared with.</summary>
public class MemoryBandwidthBenchmarks
{
    private WorkerPool _pool = null!;

    [GlobalSetup]
    public void Setup() => _pool = new WorkerPool();

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    [Benchmark]
    public double ReadGBps() => MemoryBandwidth.MeasureReadGBps(_pool, 256L << 20, 3);
}
