using System.Text.Json;
using Tessera.Engine.Gpu;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Serving;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Tessera.Tests.Serving;
using Xunit.Abstractions;

namespace Tessera.Tests.Gpu;

/// <summary>
/// Stages on GPU devices as a user runs them: a pipeline of a GPU stage (ILGPU's CPU accelerator here, the kernels CUDA
/// runs) and a CPU stage gives the text one process gives, and a device that is not there is one clear error.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class GpuStageProcessTests(ITestOutputHelper output)
{
    // F16: no 8-bit activation quantization, whose rounding boundaries the GPU's other summation order can cross
    // (see GpuStageTests).
    private static readonly string Model = TestPaths.Model("tiny-a-f16.gguf");
    private const string Prompt = "Once upon a time, in a land far away,";
    private const int Tokens = 8;

    [Fact]
    public async Task AGpuStageThenACpuStage_GiveTheTextOfOneProcess()
    {
        var (code, stdout, stderr) = await TesseraProcess.RunAsync(
            ["generate", "--model", Model, "--prompt", Prompt, "--max-tokens", $"{Tokens}", "--temperature", "0", "--threads", "1", "--context", "512", "--output", "json"],
            TimeSpan.FromSeconds(60));
        Assert.True(code == 0, stderr);
        var expected = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement)
            .Where(e => e.TryGetProperty("id", out _))
            .Select(e => e.GetProperty("id").GetInt32())
            .ToList();

        using var stages = await StageProcesses.StartOnDevicesAsync(Model, "f32", [("0-3", "stand-in"), ("3-4", "cpu")]);
        Assert.Contains("gpu cpu-stand-in", stages.Processes[0].Stdout);
        await using var service = await PipelineGenerationService.ConnectAsync(Model, stages.Endpoints, new PipelineGenerationServiceOptions { Id = "tiny" });
        var actual = new List<int>();
        await foreach (var t in service.GenerateAsync("tiny", service.TokenizePrompt("tiny", Prompt), new GenerationOptions(SamplingParameters.Greedy, Tokens, 0), CancellationToken.None))
            actual.Add(t.Id);

        output.WriteLine($"one process: {string.Join(",", expected)}; GPU + CPU stages: {string.Join(",", actual)}");
        Assert.Equal(Tokens, expected.Count);
        Assert.Equal(expected, actual);
    }

    /// <summary>
    /// `tessera bench` measures a whole model on the device it is given (the stand-in's figures say nothing about a
    /// GPU's speed, but the path is the one a GPU takes), with fewer decode tokens than its warm-up runs.
    /// </summary>
    [Theory]
    [InlineData("cpu", "cpu-")]
    [InlineData("stand-in", "gpu cpu-stand-in")]
    public async Task Bench_OnEachDevice_MeasuresPrefillAndDecode(string device, string backend)
    {
        var (code, stdout, stderr) = await TesseraProcess.RunAsync(
            ["bench", "--model", Model, "--device", device, "--threads", "1", "--runs", "1", "--prefill", "8", "--decode-tokens", "2", "--output", "json"],
            TimeSpan.FromSeconds(120));
        Assert.True(code == 0, stderr);
        using var report = JsonDocument.Parse(stdout);
        var root = report.RootElement;
        Assert.StartsWith(backend, root.GetProperty("backend").GetString());
        Assert.Equal(8, root.GetProperty("prefill")[0].GetProperty("tokens").GetInt32());
        Assert.True(root.GetProperty("prefill")[0].GetProperty("tokens_per_second").GetDouble() > 0);
        Assert.True(root.GetProperty("decode_tokens_per_second").GetDouble() > 0);
        Assert.True(root.GetProperty("bandwidth_g_bps").GetDouble() > 0);
    }

    [Fact]
    public async Task AMissingOrUnknownDevice_IsOneClearError()
    {
        if (GpuDevice.ListCuda().Count == 0)
        {
            var (code, _, stderr) = await TesseraProcess.RunAsync(["generate", "--model", Model, "--device", "gpu0", "--max-tokens", "1"], TimeSpan.FromSeconds(60));
            Assert.Equal(2, code);
            Assert.Contains("Device 'gpu0' is not available", stderr);
            Assert.DoesNotContain("   at ", stderr);
        }
        var (unknownCode, _, unknownErr) = await TesseraProcess.RunAsync(["bench", "--model", Model, "--device", "tpu7"], TimeSpan.FromSeconds(60));
        Assert.Equal(2, unknownCode);
        Assert.Contains("Unknown device 'tpu7'", unknownErr);
    }
}
