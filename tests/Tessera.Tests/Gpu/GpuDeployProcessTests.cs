using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Tessera.Deploy;
using Tessera.Testing;
using Tessera.Tests.Deploy;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Gpu;

/// <summary>
/// A coordinator and two agents as processes: agent-g reports a GPU (ILGPU's CPU accelerator standing in, declared at
/// 400 GB/s beside CPUs of 5 GB/s), agent-c only its CPU.
/// </summary>
public sealed class StandInGpuPoolFixture : DeployPoolFixture
{
    protected override IReadOnlyList<string> AgentNames => ["agent-g", "agent-c"];

    protected override IReadOnlyList<string> AgentArguments(string name) =>
        name == "agent-g" ? ["--speed-gbps", "5", "--stand-in-gpu", "1GB:400"] : ["--speed-gbps", "5"];
}

/// <summary>
/// The pool plans over GPUs and CPUs together: a deployment lands on the GPU its speed earns, a placement splits a
/// model between a GPU and another machine's CPU, each stage computes on the device it was given (the agent runs the
/// GPU backend's kernels on it), and both serve the text one process gives.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class GpuDeployProcessTests(StandInGpuPoolFixture pool, ITestOutputHelper output) : IClassFixture<StandInGpuPoolFixture>
{
    // F16: no 8-bit activation quantization, whose rounding boundaries the GPU's other summation order can cross.
    private static readonly string Model = TestPaths.Model("tiny-a-f16.gguf");
    private const string Prompt = "Once upon a time";
    private const int Tokens = 8;

    [Fact]
    public async Task DeploymentsPlannedOrPlacedOnAGpu_RunTheirStagesThere_AndGiveTheTextOfOneProcess()
    {
        var reference = await TesseraProcess.RunAsync(["generate", "-m", Model, "-p", Prompt, "-n", Tokens.ToString(CultureInfo.InvariantCulture),
            "--temperature", "0", "--threads", "1", "-o", "json"], TimeSpan.FromSeconds(60));
        Assert.True(reference.ExitCode == 0, reference.Stderr);
        var expected = string.Concat(reference.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement)
            .Where(e => e.TryGetProperty("id", out _))
            .Select(e => e.GetProperty("text").GetString()));

        var nodes = await pool.RunAsync("nodes");
        Assert.Contains("stand-in: ILGPU CPU stand-in", nodes.Stdout);

        // planned: the GPU is 80 times the CPUs' speed, so the whole model goes there
        var planned = await pool.DeployWithAsync(Model, "planned", "120s");
        var stage = Assert.Single(planned.Stages);
        Assert.Equal(("agent-g", "stand-in"), (stage.NodeName, stage.Device));

        // placed: the first half on the GPU, the rest on the other machine's CPU
        var placed = await pool.DeployWithAsync(Model, "placed", "120s", "--placement", "agent-g/stand-in:0-2,agent-c:2-4");
        Assert.Equal([("agent-g", "stand-in"), ("agent-c", "cpu")], placed.Stages.Select(s => (s.NodeName, s.Device)));

        var listing = await pool.RunAsync("deployments");
        Assert.Contains("stand-in", listing.Stdout);
        Assert.Contains("gpu cpu-stand-in", pool.Agent("agent-g").Output); // the agent's stage server opened the GPU backend

        using var http = pool.OpenAi();
        foreach (var name in new[] { "planned", "placed" })
        {
            using var response = await http.PostAsJsonAsync("v1/completions", new { model = name, prompt = Prompt, max_tokens = Tokens, temperature = 0 });
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, body);
            var text = JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("text").GetString();
            output.WriteLine($"{name}: {text}");
            Assert.Equal(expected, text);
        }
        foreach (var name in new[] { "planned", "placed" })
            Assert.Equal(0, (await pool.RunAsync("undeploy", name)).ExitCode);
    }
}
