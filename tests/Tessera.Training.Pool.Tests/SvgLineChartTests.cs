using System.Globalization;
using System.Xml.Linq;

namespace Tessera.Training.Pool.Tests;

public sealed class SvgLineChartTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static readonly ChartSeries[] TwoRuns =
    [
        new("DiLoCo <H=50> & \"friends\"", [(0, 10.4), (100, 6.2), (200, 4.9), (300, 4.1)]),
        new("synchronous", [(0, 10.4), (100, 5.9), (200, 4.6), (300, 3.95), (350, double.NaN)]),
    ];

    [Fact]
    public void TheChart_IsWellFormedSvg_WithOnePolylinePerSeries_AndEscapedText()
    {
        var svg = SvgLineChart.Render("Loss <by> step", "step", "loss & perplexity", TwoRuns);

        var doc = XDocument.Parse(svg);
        Assert.Equal(Svg + "svg", doc.Root!.Name);
        var lines = doc.Descendants(Svg + "polyline").ToList();
        Assert.Equal(2, lines.Count);
        Assert.NotEqual(lines[0].Attribute("stroke")!.Value, lines[1].Attribute("stroke")!.Value);
        var texts = doc.Descendants(Svg + "text").Select(t => t.Value).ToList();
        Assert.Contains("Loss <by> step", texts);
        Assert.Contains("loss & perplexity", texts);
        Assert.Contains("DiLoCo <H=50> & \"friends\"", texts); // the legend
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EveryFinitePoint_LiesInsideThePlotArea(bool logX)
    {
        ChartSeries[] series = logX ? [new("lr sweep", [(1e-4, 3.2), (3e-4, 2.9), (1e-3, 2.7), (3e-3, 3.4), (0, 9)])] : TwoRuns;

        var doc = XDocument.Parse(SvgLineChart.Render("t", "x", "y", series, logX));

        var area = doc.Descendants(Svg + "rect").Single(r => (string?)r.Attribute("class") == "plot-area");
        double Number(string name) => double.Parse(area.Attribute(name)!.Value, CultureInfo.InvariantCulture);
        double left = Number("x"), top = Number("y"), right = left + Number("width"), bottom = top + Number("height");
        var polylines = doc.Descendants(Svg + "polyline").ToList();
        for (var s = 0; s < series.Length; s++)
        {
            var points = polylines[s].Attribute("points")!.Value.Split(' ')
                .Select(p => p.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
            var finite = series[s].Points.Count(p => double.IsFinite(p.Y) && (!logX || p.X > 0));
            Assert.Equal(finite, points.Count);
            foreach (var p in points)
            {
                Assert.InRange(p[0], left, right);
                Assert.InRange(p[1], top, bottom);
            }
            // x grows to the right and larger y is drawn higher (smaller SVG y).
            var data = series[s].Points.Where(p => double.IsFinite(p.Y) && (!logX || p.X > 0)).ToList();
            for (var i = 1; i < data.Count; i++)
            {
                Assert.True(points[i][0] > points[i - 1][0]);
                Assert.Equal(Math.Sign(data[i].Y - data[i - 1].Y), -Math.Sign(points[i][1] - points[i - 1][1]));
            }
        }
    }

    [Fact]
    public void Ticks_AreRoundNumbers_CoveringTheData()
    {
        Assert.Equal([0, 2, 4, 6, 8, 10, 12], SvgLineChart.NiceTicks(0.3, 10.4));
        Assert.Equal([0, 500, 1000, 1500, 2000, 2500], SvgLineChart.NiceTicks(0, 2400));
        Assert.Equal([3.95, 4.0, 4.05, 4.1, 4.15, 4.2], SvgLineChart.NiceTicks(3.95, 4.2).Select(t => Math.Round(t, 9)));
    }

    [Fact]
    public void ASinglePoint_OrNoSeries_StillRenders()
    {
        XDocument.Parse(SvgLineChart.Render("one", "x", "y", [new ChartSeries("only", [(5, 5)])]));
        XDocument.Parse(SvgLineChart.Render("none", "x", "y", []));
    }
}
