using Tessera.Pool.Hardware;

namespace Tessera.Pool.Tests.Hardware;

public sealed class NvidiaSmiParserTests
{
    private static string Fixture(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "nvidia-smi", name));

    [Fact]
    public void Parse_SingleConsumerGpu_ReadsEveryField()
    {
        var gpu = Assert.Single(NvidiaSmiParser.Parse(Fixture("rtx4090.txt")));

        Assert.Equal(0, gpu.Index);
        Assert.Equal("NVIDIA GeForce RTX 4090", gpu.Name);
        Assert.Equal(24564L * 1024 * 1024, gpu.MemoryTotalBytes);
        Assert.Equal(23109L * 1024 * 1024, gpu.MemoryFreeBytes);
        Assert.Equal("8.9", gpu.ComputeCapability);
        Assert.Equal("550.54.14", gpu.DriverVersion);
        Assert.Equal(3, gpu.UtilizationPercent);
    }

    [Fact]
    public void Parse_FourGpus_NumbersThemInOrder()
    {
        var gpus = NvidiaSmiParser.Parse(Fixture("h100x4.txt"));

        Assert.Equal(4, gpus.Count);
        Assert.Equal([0, 1, 2, 3], gpus.Select(g => g.Index));
        Assert.Equal(2311L * 1024 * 1024, gpus[1].MemoryFreeBytes);
        Assert.Equal(97, gpus[1].UtilizationPercent);
    }

    [Fact]
    public void Parse_NotSupportedFields_BecomeZeroOrEmpty()
    {
        var gpus = NvidiaSmiParser.Parse(Fixture("mixed-not-supported.txt"));

        Assert.Equal(2, gpus.Count);
        Assert.Equal(0, gpus[0].UtilizationPercent);
        Assert.Equal("7.5", gpus[0].ComputeCapability);
        Assert.Equal(0, gpus[1].MemoryFreeBytes);
        Assert.Equal(string.Empty, gpus[1].ComputeCapability);
        Assert.Equal("390.157", gpus[1].DriverVersion);
    }

    [Fact]
    public void Parse_NameWithCommaAndCrLf_KeepsTheWholeName()
    {
        var gpu = Assert.Single(NvidiaSmiParser.Parse(Fixture("name-with-comma-crlf.txt")));

        Assert.Equal("NVIDIA RTX A6000, Workstation Edition", gpu.Name);
        Assert.Equal(49140L * 1024 * 1024, gpu.MemoryTotalBytes);
        Assert.Equal(12, gpu.UtilizationPercent);
    }

    [Fact]
    public void Parse_EmptyOutput_MeansNoGpus()
    {
        Assert.Empty(NvidiaSmiParser.Parse("\n"));
    }

    [Fact]
    public void Parse_TooFewFields_IsAFormatError()
    {
        Assert.Throws<FormatException>(() => NvidiaSmiParser.Parse("No devices were found, 3"));
    }
}
