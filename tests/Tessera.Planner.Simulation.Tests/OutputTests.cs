using System.Text.Json;
using System.Xml.Linq;

namespace Tessera.Planner.Simulation.Tests;

public sealed class OutputTests
{
    private static readonly SimulationSettings Small = new()
    {
        NodeCounts = [10, 40], Models = [ModelSize.B7], Catalog = PoolCatalog.Mixed, Seed = 3, Hours = 6,
    };

    [Fact]
    public void SameSeed_GivesTheSameReportAndPlots_ByteForByte()
    {
        var first = SimulationRunner.Run(Small);
        var second = SimulationRunner.Run(Small);

        Assert.Equal(JsonSerializer.Serialize(first), JsonSerializer.Serialize(second));
        Assert.Equal(SimulationCharts.Render(first), SimulationCharts.Render(second));
    }

    [Fact]
    public void AnotherSeed_DrawsAnotherPool()
    {
        var a = PoolGenerator.Generate(PoolCatalog.Mixed, 50, 1);
        var b = PoolGenerator.Generate(PoolCatalog.Mixed, 50, 2);

        Assert.NotEqual(a.Nodes.Select(n => n.Machine.Name), b.Nodes.Select(n => n.Machine.Name));
    }

    [Fact]
    public void Charts_AreWellFormedSvgWithOneSeriesPerSystem()
    {
        var report = SimulationRunner.Run(Small);

        var charts = SimulationCharts.Render(report);

        Assert.Equal(4, charts.Count);
        foreach (var (name, svg) in charts)
        {
            var doc = XDocument.Parse(svg);
            XNamespace ns = "http://www.w3.org/2000/svg";
            Assert.Equal(ns + "svg", doc.Root!.Name);
            var legend = doc.Descendants(ns + "text").Where(t => (string?)t.Attribute("class") == "legend").Select(t => t.Value).ToList();
            Assert.Equal(SystemKinds.All.Select(SystemKinds.Label), legend);
            Assert.StartsWith("llama-7b-q4-mixed-", name, StringComparison.Ordinal);
        }
        var saturated = XDocument.Parse(charts[0].Svg);
        var series = saturated.Descendants().Where(e => (string?)e.Attribute("class") == "series").Select(e => (string)e.Attribute("data-series")!).ToList();
        Assert.Contains("tessera", series);
        Assert.Contains("petals", series);
    }

    [Fact]
    public void ModelCatalog_SizesMatchThePublishedFiles()
    {
        // llama.cpp's Llama 3.1 70B Q4_K_M file is about 42.5 GB; Mixtral 8x22B reads 2 of 8 experts per token.
        var b70 = ModelCatalog.Profile(ModelSize.B70, Quantization.Q4);
        var moe = ModelCatalog.Profile(ModelSize.Moe8x22B, Quantization.Q8);

        Assert.InRange(b70.TotalWeightBytes / 1e9, 41, 44);
        Assert.Equal(80, b70.LayerCount);
        Assert.InRange(moe.TotalWeightBytes / 1e9, 140, 160);
        Assert.True(moe.LayerReadBytes![0] < moe.LayerWeightBytes[0] / 3);
    }
}
