using System.Text.Json;
using Tessera.Engine.Generation;
using Tessera.Engine.Model;
using Tessera.Generation;
using Tessera.Generation.Constraints;
using Tessera.Serving;
using Tessera.Serving.Protocol;
using Tessera.Testing;

namespace Tessera.Serving.Tests;

/// <summary>Grammar-constrained output through a pipeline: the last stage masks where it samples, and keeps doing so after it is replaced.</summary>
public sealed class ConstrainedPipelineTests
{
    private static readonly string Model = TestPaths.Model("tiny-a-q8_0.gguf");

    private static readonly string Grammar = JsonSchemaGrammar.ForSchema(JsonDocument.Parse("""
        {"type": "object",
         "properties": {"pick": {"enum": ["alpha", "beta", "gamma"]}, "n": {"type": "integer", "minimum": 0, "maximum": 999}, "flag": {"type": "boolean"}},
         "required": ["pick", "n", "flag"]}
        """).RootElement);

    private static readonly SamplingParameters Seeded = new() { Temperature = 1.1f, Seed = 17, TopK = 0, TopP = 1, MinP = 0 };

    private static List<int> Local(LocalModel model, int[] prompt) =>
        model.Generator.Generate(prompt, Seeded, 120, new GenerationStats(), grammar: Grammar).Select(t => t.Id).ToList();

    private static async Task<List<int>> RunAsync(PipelineDriver driver, int[] prompt, IReadOnlySet<int> end, Func<int, Task>? afterToken = null)
    {
        var ids = new List<int>();
        await foreach (var t in driver.GenerateAsync(new PipelineRequest(prompt, Seeded, 120) { Grammar = Grammar, EndTokens = end }))
        {
            ids.Add(t.Id);
            if (afterToken is not null)
                await afterToken(ids.Count);
        }
        return ids;
    }

    [Fact]
    public async Task TwoStages_GiveTheConstrainedTokensOfOneProcess()
    {
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-2", "2-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);
        var prompt = local.Tokenizer.Encode("Pick one:", addSpecial: true);

        var expected = Local(local, prompt);
        var actual = await RunAsync(driver, prompt, local.Tokenizer.EndOfGenerationIds).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(expected, actual);
        Assert.True(local.Tokenizer.IsEndOfGeneration(actual[^1]));
        using var doc = JsonDocument.Parse(local.Tokenizer.Decode(actual.SkipLast(1).ToArray()));
        Assert.Contains(doc.RootElement.GetProperty("pick").GetString(), new[] { "alpha", "beta", "gamma" });
    }

    [Fact]
    public async Task TheLastStageReplacedMidOutput_TheSessionResumesInItsGrammar()
    {
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-2", "2-4");
        var recovery = new InProcessStageReplacement(pipeline, Model, ^1, "2-4");
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints, new PipelineDriverOptions { Recovery = recovery });
        var prompt = local.Tokenizer.Encode("Pick one:", addSpecial: true);
        var expected = Local(local, prompt);
        var last = pipeline.Servers[1];
        var killed = 0;

        var actual = await RunAsync(driver, prompt, local.Tokenizer.EndOfGenerationIds, async n =>
        {
            if (n == 6 && Interlocked.Exchange(ref killed, 1) == 0)
            {
                pipeline.Servers.Remove(last);
                await last.AbortAsync();
            }
        }).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, killed);
        Assert.True(expected.Count > 6, "the output outlasts the failure");
        Assert.Equal(expected, actual);
        Assert.Single(recovery.Calls);
    }
}
