using System.Text.Json;
using Tessera.Testing;

namespace Tessera.Tests.Telemetry;

/// <summary>The Grafana dashboard shipped in docs/grafana: a dashboard Grafana imports, over metrics Tessera serves.</summary>
public sealed class GrafanaDashboardTests
{
    [Fact]
    public void Dashboard_IsImportable_AndEveryQueryUsesDocumentedMetrics()
    {
        var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "grafana", "tessera-dashboard.json"))).RootElement;

        // Importable: a title, a uid, the Prometheus input its panels name, and panels with queries.
        Assert.Equal("Tessera", dashboard.GetProperty("title").GetString());
        Assert.False(string.IsNullOrEmpty(dashboard.GetProperty("uid").GetString()));
        Assert.Equal("DS_PROMETHEUS", dashboard.GetProperty("__inputs")[0].GetProperty("name").GetString());
        var queries = dashboard.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!))
            .Concat(dashboard.GetProperty("templating").GetProperty("list").EnumerateArray().Select(v => v.GetProperty("definition").GetString()!))
            .ToList();
        Assert.True(queries.Count >= 20, $"{queries.Count} queries");

        // Every metric it asks for is one Tessera documents (and so serves: the process tests check that direction).
        var families = queries.SelectMany(MetricsDocs.Families).Distinct().ToList();
        Assert.All(families, f => Assert.True(MetricsDocs.IsDocumented(f), $"the dashboard queries {f}, which docs/metrics.md does not list"));
        Assert.Contains("tessera_stage_forward_seconds_total", families);
        Assert.Contains("tessera_time_to_first_token_seconds", families);
    }
}
