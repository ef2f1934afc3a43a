using Tessera.Pool.Hardware;

namespace Tessera.Pool.Tests.Hardware;

public sealed class ProcParsersTests
{
    private static string Fixture(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "proc", name));

    [Fact]
    public void CpuModel_OnX86_IsTheModelName()
    {
        Assert.Equal("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", ProcParsers.CpuModel(Fixture("cpuinfo-x86.txt")));
    }

    [Fact]
    public void CpuModel_OnArm_FallsBackToTheBoardModel()
    {
        Assert.Equal("Raspberry Pi 4 Model B Rev 1.4", ProcParsers.CpuModel(Fixture("cpuinfo-arm.txt")));
    }

    [Fact]
    public void Memory_ReadsTotalAndAvailableInBytes()
    {
        var (total, available) = ProcParsers.Memory(Fixture("meminfo.txt"));

        Assert.Equal(8039416L * 1024, total);
        Assert.Equal(5711308L * 1024, available);
    }

    [Fact]
    public void CpuTimes_CountsIdleAndIowaitAsNotBusy()
    {
        var (busy, total) = ProcParsers.CpuTimes("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n");

        Assert.Equal(1000, total);
        Assert.Equal(150, busy);
    }

    [Fact]
    public void SimdFeatures_AreReportedOnThisMachine()
    {
        Assert.NotEmpty(SimdFeatures.Detect());
    }
}
