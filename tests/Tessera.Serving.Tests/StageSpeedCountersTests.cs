using Tessera.Engine.Generation;
using Tessera.Generation;
using Tessera.Serving;
using Tessera.Serving.Protocol;
using Tessera.Testing;

namespace Tessera.Serving.Tests;

/// <summary>
/// What a stage reports for the coordinator to learn its node's speed from: its decoding passes and their time (a
/// prompt's pass is not one), and the fault-injection hook that makes a stage slow for tests.
/// </summary>
public sealed class StageSpeedCountersTests
{
    private static readonly string Model = TestPaths.Model("tiny-a-q8_0.gguf");

    private static async Task GenerateAsync(InProcessPipeline pipeline, int tokens)
    {
        using var local = LocalModel.Load(Model, threads: 1, contextLength: 512);
        await using var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints);
        var prompt = local.Tokenizer.Encode("Once upon a time", addSpecial: true);
        await foreach (var _ in driver.GenerateAsync(new PipelineRequest(prompt, SamplingParameters.Greedy, tokens)))
        {
        }
    }

    [Fact]
    public async Task EveryStage_CountsItsDecodingPasses_ButNotThePromptsPass()
    {
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-2", "2-4");

        await GenerateAsync(pipeline, 12);

        foreach (var server in pipeline.Servers)
        {
            var status = server.Host.Status();
            // one pass for the prompt, one per token after the first (the last token is sampled and not fed back)
            Assert.Equal(status.ForwardCalls - 1, status.DecodePasses);
            Assert.InRange(status.DecodePasses, 10, 11);
            Assert.True(status.DecodeSeconds > 0 && status.DecodeSeconds <= status.ComputeSeconds, $"{status.DecodeSeconds} of {status.ComputeSeconds} s");
        }
        // the last stage says which part of its passes its head took (the coordinator tells layers and head apart by it)
        var last = pipeline.Servers[^1].Host.Status();
        Assert.True(last.DecodeHeadSeconds > 0 && last.DecodeHeadSeconds < last.DecodeSeconds, $"head {last.DecodeHeadSeconds} of {last.DecodeSeconds} s");
        Assert.Equal(0, pipeline.Servers[0].Host.Status().DecodeHeadSeconds);
    }

    [Fact]
    public async Task EveryStageButTheLast_CountsItsWaitsOnTheNext_WhichCoverTheNextStagesPasses()
    {
        await using var pipeline = await InProcessPipeline.StartAsync(Model, ActivationFormat.F32, "0-1", "1-3", "3-4");

        await GenerateAsync(pipeline, 16);

        var statuses = pipeline.Servers.Select(s => s.Host.Status()).ToList();
        // the decoding steps sent on and answered (the prompt's step is not one); the last stage sends nothing on
        Assert.All(statuses.Take(2), s => Assert.InRange(s.DecodeWaits, 12, 15));
        Assert.Equal(0, statuses[2].DecodeWaits);
        // a stage's wait covers the next stage's pass and that stage's own wait: the link's round trip is the rest
        for (var k = 0; k < 2; k++)
        {
            var wait = statuses[k].DecodeWaitSeconds / statuses[k].DecodeWaits;
            var next = statuses[k + 1];
            var inside = next.DecodeSeconds / next.DecodePasses + (next.DecodeWaits > 0 ? next.DecodeWaitSeconds / next.DecodeWaits : 0);
            Assert.True(wait > inside, $"stage {k} waited {wait * 1000:F3} ms a step; the next stage's pass and wait take {inside * 1000:F3} ms");
        }
    }

    [Fact]
    public async Task AStageSlowedByTheFaultHook_TakesThatManyTimesAsLongPerPass()
    {
        var slowdown = Path.Combine(Path.GetTempPath(), $"tessera-slowdown-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(slowdown, "8");
        try
        {
            var hook = new FaultSlowdownFile(slowdown);
            await using var pipeline = await InProcessPipeline.StartWithAsync(Model, ActivationFormat.F32,
                o => o.Layers.First == 2 ? o with { FaultSlowdown = hook.Factor } : o, "0-2", "2-4");

            await GenerateAsync(pipeline, 12);

            var fast = pipeline.Servers[0].Host.Status();
            var slow = pipeline.Servers[1].Host.Status();
            var fastPass = fast.DecodeSeconds / fast.DecodePasses;
            var slowPass = slow.DecodeSeconds / slow.DecodePasses;
            // several times the unslowed stage's (the passes are stretched exactly, not rounded up to whole milliseconds)
            Assert.True(slowPass > 3 * fastPass, $"slowed {slowPass * 1000:F2} ms a pass, the other {fastPass * 1000:F2} ms");
        }
        finally
        {
            File.Delete(slowdown);
        }
    }

    [Theory]
    [InlineData("3", 3)]
    [InlineData(" 2.5\n", 2.5)]
    [InlineData("1", 1)]
    [InlineData("0.5", 1)]
    [InlineData("", 1)]
    [InlineData("fast", 1)]
    [InlineData("NaN", 1)]
    [InlineData(null, 1)]
    public void TheFaultFile_SaysAFactorAboveOne_OrFullSpeed(string? text, double factor) =>
        Assert.Equal(factor, FaultSlowdownFile.Parse(text));
}
