using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Tessera.Pool;
using Tessera.Testing;
using Tessera.Tests.Telemetry;

namespace Tessera.Tests.Deploy;

/// <summary>The coordinator's /metrics with a deployment on the fixture's agents: the stages' figures come from their agents.</summary>
public sealed partial class DeployProcessTests
{
    [Fact]
    public async Task CoordinatorMetrics_ShowEachStagesFiguresFromItsAgent_AndTheNodes_AndWantAKey()
    {
        // Arrange: a model over the three agents, and clients without a key and with a wrong one (the fixture scrapes with the scrape key).
        var view = await pool.DeployThreeStagesAsync(TestPaths.Model("tiny-a-q8_0.gguf"), "metered");
        using var anonymous = pool.Https(null);
        using var wrong = pool.Https("tsm_wrong");
        using var api = pool.OpenAi();

        // Act: two completions through the pipeline.
        var generated = 0;
        for (var i = 0; i < 2; i++)
        {
            using var response = await api.PostAsJsonAsync("v1/completions", new { model = "metered", prompt = "Once upon a time", max_tokens = 6, temperature = 0 });
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, body);
            generated += JsonDocument.Parse(body).RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        }

        // Assert: within a few heartbeats every stage's passes, labelled with the deployment, its index and its node; and
        // what each stage sent the next one received, counted at both ends.
        var metrics = await pool.WaitForScrapeAsync(m => Enumerable.Range(0, 3).All(i =>
                m.Sum("tessera_stage_forward_passes_total", StageLabels(view, i)) > 0 && m.Sum("tessera_stage_positions_total", StageLabels(view, i)) > 0)
            && Enumerable.Range(0, 2).All(i => m.Sum("tessera_stage_activations_sent_bytes_total", StageLabels(view, i)) > 0
                && m.Sum("tessera_stage_activations_sent_bytes_total", StageLabels(view, i)) == m.Sum("tessera_stage_activations_received_bytes_total", StageLabels(view, i + 1))),
            "every stage's passes and traffic");
        Assert.Equal(3, metrics.Series("tessera_stage_forward_passes_total", ("deployment", "metered")).Count());
        Assert.Equal(0, metrics.Sum("tessera_stage_activations_received_bytes_total", StageLabels(view, 0))); // the first stage takes token ids
        Assert.Equal(0, metrics.Sum("tessera_stage_activations_sent_bytes_total", StageLabels(view, 2))); // the last sends tokens back
        Assert.All(Enumerable.Range(0, 3), i =>
        {
            Assert.True(metrics.Sum("tessera_stage_forward_seconds_total", StageLabels(view, i)) > 0);
            Assert.True(metrics.Sum("tessera_stage_kv_cache_capacity_positions", StageLabels(view, i)) > 0);
        });
        Assert.Equal("counter", metrics.Types["tessera_stage_forward_passes_total"]);
        Assert.Equal(2, metrics.Sum("tessera_requests_total", ("deployment", "metered"), ("endpoint", "completions"), ("status", "200")));
        Assert.Equal(generated, metrics.Sum("tessera_generated_tokens_total", ("deployment", "metered")));
        Assert.Single(metrics.Series("tessera_sessions_queued", ("deployment", "metered")));
        MetricsDocs.AssertDocumented(metrics);

        // The nodes: each agent ready, with a fresh heartbeat.
        Assert.Equal(3, metrics.Sum("tessera_nodes", ("state", "ready")));
        foreach (var node in new[] { "agent-a", "agent-b", "agent-c" })
        {
            Assert.Equal(1, metrics.Sum("tessera_node_state", ("node", node), ("state", "ready")));
            Assert.Equal(0, metrics.Sum("tessera_node_state", ("node", node), ("state", "down")));
            var age = Assert.Single(metrics.Series("tessera_node_heartbeat_age_seconds", ("node", node))).Value;
            Assert.InRange(age, 0, 10);
        }

        // Without the scrape key (or the admin key) nothing is shown.
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("metrics")).StatusCode);
        using var admin = pool.Https((await File.ReadAllTextAsync(new PoolDataDirectory(pool.CoordinatorDir).AdminKey)).Trim());
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("metrics")).StatusCode);

        // Once undeployed, its stages leave the scrape.
        var undeploy = await pool.RunAsync("undeploy", "metered");
        Assert.True(undeploy.ExitCode == 0, undeploy.Stderr);
        await pool.WaitForScrapeAsync(m => !m.Series("tessera_stage_forward_passes_total", ("deployment", "metered")).Any(), "the stages gone");
    }

    private static (string, string)[] StageLabels(Tessera.Deploy.DeploymentView view, int stage) =>
        [("deployment", view.Name), ("stage", stage.ToString(CultureInfo.InvariantCulture)), ("node", view.Stages[stage].NodeName)];
}
