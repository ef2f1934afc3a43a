using System.Diagnostics.Metrics;
using System.Text;
using Prometheus;
using Tessera.Cli.Telemetry;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;

namespace Tessera.Tests.Telemetry;

/// <summary>The pieces behind /metrics, without a server: names, the bridge from .NET's meters, series set per scrape, stage figures made safe.</summary>
public sealed class MeterBridgeTests
{
    [Theory]
    [InlineData("tessera.requests", "{request}", true, "tessera_requests_total")]
    [InlineData("tessera.time_to_first_token", "s", false, "tessera_time_to_first_token_seconds")]
    [InlineData("tessera.stage.sent", "By", true, "tessera_stage_sent_bytes_total")]
    [InlineData("tessera.pipeline.pause", "s", false, "tessera_pipeline_pause_seconds")]
    [InlineData("tessera.done_total", null, true, "tessera_done_total")]
    public void PrometheusName_FollowsOpenTelemetrysRules(string instrument, string? unit, bool counter, string expected) =>
        Assert.Equal(expected, MeterBridge.PrometheusName(instrument, unit, counter));

    [Fact]
    public async Task Bridge_ExportsCountersAsCounters_AndHistogramsWithTheBucketsTheirInstrumentAdvises()
    {
        // Arrange: a meter of our own (the bridge takes every Tessera.* meter).
        var registry = Prometheus.Metrics.NewCustomRegistry();
        using var bridge = new MeterBridge(registry);
        using var meter = new Meter("Tessera.Tests.Bridge" + Guid.NewGuid().ToString("N"));
        var prefix = "bridge_" + Guid.NewGuid().ToString("N")[..8];
        var counter = meter.CreateCounter<long>(prefix + ".requests", "{request}", "Requests");
        var histogram = meter.CreateHistogram(prefix + ".wait", "s", "Waits", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2] });

        // Act
        counter.Add(2, new KeyValuePair<string, object?>("status", 200), new KeyValuePair<string, object?>("deployment", "a"));
        counter.Add(1, new KeyValuePair<string, object?>("deployment", "a"), new KeyValuePair<string, object?>("status", 200));
        histogram.Record(1.5, new KeyValuePair<string, object?>("deployment", "a"));
        histogram.Record(7, new KeyValuePair<string, object?>("deployment", "a"));
        var text = await ExportAsync(registry);

        // Assert: tags in any order are one series; the histogram has the advised buckets.
        Assert.Equal("counter", text.Types[prefix + "_requests_total"]);
        Assert.Equal(3, text.Sum(prefix + "_requests_total", ("deployment", "a"), ("status", "200")));
        Assert.Equal("histogram", text.Types[prefix + "_wait_seconds"]);
        Assert.Equal(["1", "2", "+Inf"], text.Series(prefix + "_wait_seconds_bucket").Select(s => s.Labels["le"]));
        Assert.Equal([0, 1, 2], text.Series(prefix + "_wait_seconds_bucket").Select(s => s.Value));
        Assert.Equal(8.5, text.Sum(prefix + "_wait_seconds_sum"));
    }

    [Fact]
    public async Task ScrapedCounter_StartsAgainBelowItsValue_AndASeriesNotSetInARoundIsRemoved()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var series = ScrapedSeries.Of(Prometheus.Metrics.WithCustomRegistry(registry).CreateCounter("passes_total", "Passes", ["stage"]));

        series.Set(10, "0");
        series.Set(5, "1");
        series.EndRound();
        series.Set(3, "0"); // stage 0 restarted: its counter starts again
        series.EndRound(); // stage 1 stopped: it is not listed any more
        var text = await ExportAsync(registry);

        Assert.Equal(3, Assert.Single(text.Series("passes_total")).Value);
        Assert.Equal("0", text.Series("passes_total").Single().Labels["stage"]);
    }

    [Fact]
    public void StageFigures_OfAHostileReport_KeepAtMostTheBound_NoNegativeCount_NoTimeThatIsNotANumber_NoOverlongId()
    {
        var reported = Enumerable.Range(0, 100).Select(i => new StageMetrics
        {
            DeploymentId = i == 0 ? new string('x', 65) : "dep_" + i,
            StageIndex = i == 1 ? -1 : i,
            ForwardPasses = -5,
            ForwardSeconds = double.NaN,
            ActivationBytesSent = 42,
        }).ToList();

        var figures = StageFigures.From(reported);

        Assert.Equal(StageFigures.MaxPerNode, figures.Count);
        Assert.DoesNotContain(figures, f => f.DeploymentId.Length > 64 || f.StageIndex < 0);
        Assert.All(figures, f => Assert.Equal((0L, 0.0, 42L), (f.ForwardPasses, f.ForwardSeconds, f.ActivationBytesSent)));
    }

    private static async Task<PrometheusText> ExportAsync(CollectorRegistry registry)
    {
        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream);
        return PrometheusText.Parse(Encoding.UTF8.GetString(stream.ToArray()));
    }
}
