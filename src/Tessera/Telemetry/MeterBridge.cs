using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Prometheus;

namespace Tessera.Cli.Telemetry;

/// <summary>
/// Publishes the libraries' <see cref="System.Diagnostics.Metrics"/> instruments (every meter named <c>Tessera.*</c>)
/// in a prometheus-net registry, as Prometheus types: a <see cref="Counter{T}"/> becomes a counter, a
/// <see cref="Histogram{T}"/> a histogram with the buckets its instrument advises, an <see cref="UpDownCounter{T}"/> a
/// gauge (observable instruments are not taken). Names follow OpenTelemetry's rules for Prometheus (<see cref="PrometheusName"/>); an instrument's labels are the
/// tags of its first measurement, sorted (each instrument records one set of tags).
/// </summary>
/// <remarks>
/// Not prometheus-net's own MeterAdapter: it exports counters as gauges, prefixes every name with its meter's, and forgets
/// a series that has not changed for five minutes, so a counter of rare events (recoveries, re-plans) would vanish
/// between them.
/// </remarks>
internal sealed class MeterBridge : IDisposable
{
    private const string MeterPrefix = "Tessera.";
    private static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private readonly MeterListener _listener = new();
    private readonly IMetricFactory _factory;
    private readonly ConcurrentDictionary<Instrument, Exported> _exported = new();

    public MeterBridge(CollectorRegistry registry)
    {
        _factory = Prometheus.Metrics.WithCustomRegistry(registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // Observable instruments are not taken: state is read from its owners at each scrape instead (ScrapedSeries).
            if (instrument.Meter.Name.StartsWith(MeterPrefix, StringComparison.Ordinal) && !instrument.IsObservable)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.SetMeasurementEventCallback<int>(OnMeasurement);
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>
    /// The Prometheus name of an instrument, as OpenTelemetry's Prometheus exporters make it: dots become underscores,
    /// the unit becomes a suffix (<c>s</c>: <c>_seconds</c>, <c>By</c>: <c>_bytes</c>; a unit in braces, a count, adds
    /// none) and a counter ends in <c>_total</c>. "tessera.requests" counting {request} is <c>tessera_requests_total</c>.
    /// </summary>
    internal static string PrometheusName(string name, string? unit, bool counter)
    {
        var result = name.Replace('.', '_').Replace('-', '_');
        var suffix = unit switch
        {
            "s" => "_seconds",
            "By" => "_bytes",
            _ => "",
        };
        if (suffix.Length > 0 && !result.EndsWith(suffix, StringComparison.Ordinal))
            result += suffix;
        if (counter && !result.EndsWith("_total", StringComparison.Ordinal))
            result += "_total";
        return result;
    }

    private void OnMeasurement<T>(Instrument instrument, T measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state) where T : struct
    {
        if (!_exported.TryGetValue(instrument, out var exported))
            exported = _exported.GetOrAdd(instrument, Export(instrument, LabelNames(tags)));
        var value = Convert.ToDouble(measurement, CultureInfo.InvariantCulture);
        var labels = exported.Values(tags);
        switch (exported.Metric)
        {
            case Counter counter:
                counter.WithLabels(labels).Inc(value);
                break;
            case Histogram histogram:
                histogram.WithLabels(labels).Observe(value);
                break;
            case Gauge gauge:
                gauge.WithLabels(labels).Inc(value);
                break;
        }
    }

    private static string[] LabelNames(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var names = new string[tags.Length];
        for (var i = 0; i < tags.Length; i++)
            names[i] = tags[i].Key;
        Array.Sort(names, StringComparer.Ordinal);
        return names;
    }

    private Exported Export(Instrument instrument, string[] labels)
    {
        var help = instrument.Description ?? instrument.Name;
        var counter = instrument is Counter<long> or Counter<int> or Counter<double>;
        var name = PrometheusName(instrument.Name, instrument.Unit, counter);
        Collector metric = instrument switch
        {
            Counter<long> or Counter<int> or Counter<double> => _factory.CreateCounter(name, help, labels),
            Histogram<double> h => _factory.CreateHistogram(name, help, labels,
                new HistogramConfiguration { Buckets = h.Advice?.HistogramBucketBoundaries?.ToArray() ?? DefaultBuckets }),
            Histogram<long> or Histogram<int> => _factory.CreateHistogram(name, help, labels, new HistogramConfiguration { Buckets = DefaultBuckets }),
            _ => _factory.CreateGauge(name, help, labels),
        };
        return new Exported(metric, labels);
    }

    /// <summary>An instrument's Prometheus metric and its label names, in order.</summary>
    private sealed record Exported(Collector Metric, string[] LabelNames)
    {
        /// <summary>The label values of a measurement, in the order of the names; a tag the measurement lacks is empty.</summary>
        public string[] Values(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var values = new string[LabelNames.Length];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = string.Empty;
                foreach (var tag in tags)
                {
                    if (tag.Key == LabelNames[i])
                    {
                        values[i] = Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? string.Empty;
                        break;
                    }
                }
            }
            return values;
        }
    }

    public void Dispose() => _listener.Dispose();
}
