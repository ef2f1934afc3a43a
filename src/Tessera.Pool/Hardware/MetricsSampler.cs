using Tessera.Pool.Protocol;

namespace Tessera.Pool.Hardware;

/// <summary>Samples the metrics sent with heartbeats; GPU figures (a process start of nvidia-smi) at most every few seconds.</summary>
public sealed class MetricsSampler(string dataDirectory, bool hasGpus, TimeProvider time)
{
    private static readonly TimeSpan GpuRefresh = TimeSpan.FromSeconds(5);
    private (long Busy, long Total) _lastCpu;
    private DateTimeOffset _lastGpuSample = DateTimeOffset.MinValue;
    private IReadOnlyList<GpuMetrics> _gpus = [];

    public Metrics Sample()
    {
        var metrics = HardwareDiscovery.SampleMetrics(dataDirectory, hasGpus: false, ref _lastCpu);
        if (hasGpus)
        {
            var now = time.GetUtcNow();
            if (now - _lastGpuSample >= GpuRefresh)
            {
                _gpus = HardwareDiscovery.QueryNvidiaGpus()
                    .Select(g => new GpuMetrics { Index = g.Index, MemoryFreeBytes = g.MemoryFreeBytes, UtilizationPercent = g.UtilizationPercent })
                    .ToList();
                _lastGpuSample = now;
            }
            metrics.Gpus.AddRange(_gpus);
        }
        return metrics;
    }
}
