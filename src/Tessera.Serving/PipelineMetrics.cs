using System.Diagnostics.Metrics;

namespace Tessera.Serving;

/// <summary>
/// The pipeline driver's instruments (meter <see cref="MeterName"/>): pipelines replaced after a stage failed, and the
/// pauses paused sessions saw, by deployment (<see cref="PipelineDriverOptions.Name"/>). A host exports them; without a
/// listener they cost next to nothing.
/// </summary>
public static class PipelineMetrics
{
    public const string MeterName = "Tessera.Serving";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Recoveries = Meter.CreateCounter<long>("tessera.pipeline.recoveries", "{recovery}",
        "Pipelines replaced after a stage failed, by deployment");

    private static readonly Histogram<double> Pauses = Meter.CreateHistogram("tessera.pipeline.pause", "s",
        "From a pipeline's failure to a paused session's next token (the pause its client saw), by deployment",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120] });

    internal static void Recovered(string deployment) => Recoveries.Add(1, new KeyValuePair<string, object?>("deployment", deployment));

    internal static void Paused(string deployment, TimeSpan pause) => Pauses.Record(pause.TotalSeconds, new KeyValuePair<string, object?>("deployment", deployment));
}
