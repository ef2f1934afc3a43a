using System.Text.Json;
using System.Text.RegularExpressions;
using Tessera.Testing;

namespace Tessera.Tests.Telemetry;

/// <summary>docs/metrics.md as the list of Tessera's metrics: what a scrape shows and what the dashboard uses must be in it.</summary>
internal static partial class MetricsDocs
{
    private static readonly Lazy<HashSet<string>> DocumentedLazy = new(() =>
        Documented().Matches(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "metrics.md"))).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal));

    /// <summary>Every tessera_ metric family of <paramref name="scrape"/> is documented.</summary>
    public static void AssertDocumented(PrometheusText scrape)
    {
        var families = scrape.Types.Keys.Where(n => n.StartsWith("tessera_", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(families);
        Assert.All(families, f => Assert.True(DocumentedLazy.Value.Contains(f), $"{f} is served at /metrics but not documented in docs/metrics.md"));
    }

    /// <summary>The tessera_ metric families an expression names (a histogram's _bucket, _sum and _count are its family).</summary>
    public static IEnumerable<string> Families(string expression) =>
        MetricName().Matches(expression).Select(m => HistogramSeries().Replace(m.Value, ""));

    public static bool IsDocumented(string family) => DocumentedLazy.Value.Contains(family);

    [GeneratedRegex(@"`(tessera_[a-z_]+)`")]
    private static partial Regex Documented();

    [GeneratedRegex(@"tessera_[a-z_]+")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"_(bucket|sum|count)$")]
    private static partial Regex HistogramSeries();
}
