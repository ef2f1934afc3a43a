using Prometheus;

namespace Tessera.Cli.Telemetry;

/// <summary>
/// The series of one metric, set anew at every scrape from a snapshot of whatever holds the state (membership, the
/// deployments, a generation service): a series not set in a round is removed, so a node that left or a stage that
/// stopped disappears instead of reporting its last value for ever. Not thread-safe: one scrape at a time.
/// </summary>
internal sealed class ScrapedSeries<TChild>(Collector<TChild> metric, Func<TChild, double, bool> set) : IScrapedSeries where TChild : ChildBase
{
    private readonly HashSet<string> _round = new(StringComparer.Ordinal);

    /// <summary>Sets the series of <paramref name="labels"/> to <paramref name="value"/> for this round (once per round: callers add up duplicates).</summary>
    public void Set(double value, params string[] labels)
    {
        _round.Add(string.Join('\u001f', labels));
        if (!set(metric.WithLabels(labels), value))
        {
            metric.RemoveLabelled(labels);
            set(metric.WithLabels(labels), value);
        }
    }

    /// <summary>Ends a round: removes every series not set in it.</summary>
    public void EndRound()
    {
        foreach (var labels in metric.GetAllLabelValues().ToList())
        {
            if (!_round.Contains(string.Join('\u001f', labels)))
                metric.RemoveLabelled(labels);
        }
        _round.Clear();
    }
}

/// <summary>A metric's series set per scrape, whatever its type.</summary>
internal interface IScrapedSeries
{
    /// <summary>Sets the series of <paramref name="labels"/> to <paramref name="value"/> for this round (once per round: callers add up duplicates).</summary>
    void Set(double value, params string[] labels);

    /// <summary>Ends a round: removes every series not set in it.</summary>
    void EndRound();
}

/// <summary>Makes <see cref="ScrapedSeries{TChild}"/> of gauges and of counters.</summary>
internal static class ScrapedSeries
{
    /// <summary>Gauges: the value as it is.</summary>
    public static ScrapedSeries<Gauge.Child> Of(Gauge gauge) => new ScrapedSeries<Gauge.Child>(gauge, (child, value) =>
    {
        child.Set(value);
        return true;
    });

    /// <summary>
    /// Counters read from cumulative figures (a stage's passes): raised to the figure; a figure below the counter (its
    /// stage restarted) starts the series again, which Prometheus's <c>rate</c> reads as a reset.
    /// </summary>
    public static ScrapedSeries<Counter.Child> Of(Counter counter) => new ScrapedSeries<Counter.Child>(counter, (child, value) =>
    {
        if (value < child.Value)
            return false;
        child.IncTo(value);
        return true;
    });
}
