using System.Text.Json;
using Tessera.Testing;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Bench;

/// <summary>The short form of <c>tessera bench --json-schema</c> (the benchmark behind structured output's speed target).</summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class ConstrainedBenchProcessTests
{
    [Fact]
    public async Task JsonSchemaBench_ReportsFreeAndConstrainedDecode()
    {
        var schema = Path.Combine(Path.GetTempPath(), $"tessera-bench-schema-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(schema, """{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer","minimum":1,"maximum":9}},"required":["ok","n"]}""");
        try
        {
            var (code, stdout, stderr) = await TesseraProcess.RunAsync(
                ["bench", "--model", TestPaths.Model("tiny-a-q8_0.gguf"), "--threads", "1", "--runs", "1", "--decode-tokens", "40", "--json-schema", schema, "--output", "json"],
                TimeSpan.FromSeconds(120));
            Assert.True(code == 0, stderr);
            var report = JsonDocument.Parse(stdout).RootElement;
            Assert.True(report.GetProperty("free_tokens_per_second").GetDouble() > 0, stdout);
            Assert.True(report.GetProperty("constrained_tokens_per_second").GetDouble() > 0, stdout);
            Assert.InRange(report.GetProperty("refused_share").GetDouble(), 0, 1);

            var (badCode, _, badErr) = await TesseraProcess.RunAsync(
                ["bench", "--model", TestPaths.Model("tiny-a-q8_0.gguf"), "--json-schema", "/nonexistent/schema.json"], TimeSpan.FromSeconds(60));
            Assert.NotEqual(0, badCode);
            Assert.Contains("schema.json", badErr);
        }
        finally
        {
            File.Delete(schema);
        }
    }
}
