using Tessera.Engine.Kernels;

namespace Tessera.Engine.Tests.Kernels;

public sealed class MemorySpeedProbeTests
{
    [Fact]
    public void MemorySpeedProbe_ReportsAPositiveSpeed()
    {
        Assert.True(MemorySpeedProbe.Measure(16) > 0);
    }

    [Fact]
    public void MemorySpeedProbe_WithNoBuffer_SkipsTheMeasurement() => Assert.Equal(0, MemorySpeedProbe.Measure(0));
}
