using System.Text.Json;
using Tessera.Engine.Gpu;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Gpu;

/// <summary><c>tessera gpu</c> as a user runs it: on a machine without a GPU it says so, and the stand-in measures.</summary>
public sealed class GpuCommandProcessTests
{
    [Fact]
    public async Task GpuList_NamesTheGpus_OrSaysThereAreNone()
    {
        var (exitCode, stdout, stderr) = await TesseraProcess.RunAsync(["gpu", "list"], TimeSpan.FromSeconds(60));
        Assert.True(exitCode == 0, stderr);
        if (GpuDevice.ListCuda().Count == 0)
            Assert.Contains("No CUDA GPU", stdout);
        else
            Assert.Contains("cuda:0", stdout);
    }

    [Fact]
    public async Task GpuBench_WithoutAGpu_IsAClearError_AndAnUnknownDeviceIsNamed()
    {
        if (GpuDevice.ListCuda().Count == 0)
        {
            var (exitCode, _, stderr) = await TesseraProcess.RunAsync(["gpu", "bench", "--device", "cuda:0", "--shape", "tiny"], TimeSpan.FromSeconds(60));
            Assert.Equal(2, exitCode);
            Assert.Contains("No CUDA GPU was found", stderr);
            Assert.DoesNotContain("   at ", stderr); // one line, no stack trace
        }
        var (unknownExit, _, unknownErr) = await TesseraProcess.RunAsync(["gpu", "bench", "--device", "tpu7"], TimeSpan.FromSeconds(60));
        Assert.Equal(2, unknownExit);
        Assert.Contains("Unknown device 'tpu7'", unknownErr);
    }

    [Fact]
    public async Task GpuBench_OnTheStandIn_TimesEveryShape()
    {
        var (exitCode, stdout, stderr) = await TesseraProcess.RunAsync(
            ["gpu", "bench", "--device", "stand-in", "--shape", "tiny", "--types", "Q8_0", "--runs", "1", "--output", "json"], TimeSpan.FromSeconds(120));
        Assert.True(exitCode == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("cpu-stand-in", json.RootElement.GetProperty("device").GetString());
        Assert.True(json.RootElement.GetProperty("copy_g_bps").GetDouble() > 0);
        var kernels = json.RootElement.GetProperty("kernels").EnumerateArray().ToList();
        Assert.Equal(3, kernels.Count); // attention, feed-forward up and down shapes
        Assert.All(kernels, k =>
        {
            Assert.Equal("Q8_0", k.GetProperty("type").GetString());
            Assert.True(k.GetProperty("median_milliseconds").GetDouble() > 0);
            Assert.True(k.GetProperty("weight_g_bps").GetDouble() > 0);
        });
    }

    [Fact]
    public async Task GpuCheck_OnTheStandIn_PassesEveryCheck()
    {
        var (exitCode, stdout, stderr) = await TesseraProcess.RunAsync(["gpu", "check", "--device", "stand-in"], TimeSpan.FromSeconds(180));
        Assert.True(exitCode == 0, stdout + stderr);
        Assert.Matches(@"cpu-stand-in: (\d+) of \1 checks within their bounds", stdout);
        Assert.Contains("Q4_K product", stdout);
    }
}
