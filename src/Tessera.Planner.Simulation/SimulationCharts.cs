namespace Tessera.Planner.Simulation;

/// <summary>The plots of a report, as (file name, SVG text) pairs: per model, tokens/s by pool size and tokens lost per day.</summary>
public static class SimulationCharts
{
    public static IReadOnlyList<(string FileName, string Svg)> Render(SimulationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var files = new List<(string, string)>();
        var catalog = report.Settings.Catalog.ToString().ToLowerInvariant();
        foreach (var group in report.Pools.GroupBy(p => p.Model))
        {
            var pools = group.ToList();
            var sizes = pools.Select(p => p.Nodes.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)).ToList();
            List<ChartSeries> Series(Func<SystemOutcome, double> value) =>
                report.Settings.Systems.Select((kind, i) => new ChartSeries(SystemKinds.Label(kind),
                    pools.Select(p => p.Outcomes[i].Fits ? value(p.Outcomes[i]) : double.NaN).ToList())).ToList();
            var model = group.Key;
            var where = $"{model}, {catalog} pools";
            files.Add(($"{model}-{catalog}-saturated.svg", SvgChart.Line($"Saturated tokens/s ({where})", "machines in the pool", "tokens/s, every stage busy (log)",
                sizes, Series(o => o.SaturatedTokensPerSecond), logY: true)));
            files.Add(($"{model}-{catalog}-single-stream.svg", SvgChart.Line($"Single-stream tokens/s ({where})", "machines in the pool", "tokens/s, one session (log)",
                sizes, Series(o => o.SingleStreamTokensPerSecond), logY: true)));
            files.Add(($"{model}-{catalog}-lost-per-day.svg", SvgChart.Bars($"Share of tokens lost to failures in {report.Settings.Hours:0.#} h ({where})", "machines in the pool",
                "% of the starting rate's tokens lost", sizes, Series(o => 100 * o.FractionLost))));
            files.Add(($"{model}-{catalog}-nodes-used.svg", SvgChart.Line($"Fraction of machines used ({where})", "machines in the pool", "fraction of machines holding layers (log)",
                sizes, Series(o => o.FractionOfNodesUsed), logY: true)));
        }
        return files;
    }
}
