using Tessera.Serving;
using Tessera.Serving.Protocol;

namespace Tessera.Serving.Tests;

public sealed class PipelineChainTests
{
    private static StageStatus Stage(int first, int last, int blocks = 4) =>
        new() { Model = "m", FirstLayer = first, LastLayer = last, BlockCount = blocks, EmbeddingLength = 256, VocabSize = 32000, ContextLength = 4096 };

    [Fact]
    public void ConsecutiveRangesFromFirstToLastBlock_FormAPipeline() =>
        PipelineDriver.CheckChain(["a", "b", "c"], [Stage(0, 1), Stage(1, 3), Stage(3, 4)]);

    [Fact]
    public void AGapBetweenStages_IsRefusedNamingTheStage()
    {
        var e = Assert.Throws<PipelineException>(() => PipelineDriver.CheckChain(["a", "b"], [Stage(0, 1), Stage(2, 4)]));
        Assert.Contains("Stage 1 at b", e.Message);
    }

    [Fact]
    public void AChainThatStopsShortOfTheLastBlock_IsRefused()
    {
        var e = Assert.Throws<PipelineException>(() => PipelineDriver.CheckChain(["a", "b"], [Stage(0, 1), Stage(1, 3)]));
        Assert.Contains("end at layer 3 of 4", e.Message);
    }

    [Fact]
    public void StagesOfDifferentModels_AreRefused() =>
        Assert.Throws<PipelineException>(() => PipelineDriver.CheckChain(["a", "b"], [Stage(0, 2), Stage(2, 6, blocks: 6)]));
}
