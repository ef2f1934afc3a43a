using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tessera.Testing;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Telemetry;

/// <summary><c>tessera serve</c>'s /metrics, scraped around real requests: the figures move by what was served.</summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed partial class ServeMetricsProcessTests
{
    private const string Key = "tsk_metrics-test";
    private const string Model = "tiny-a-q8_0";

    [Fact]
    public async Task Metrics_OnServe_MoveByTheRequestsAndTokensServed_AndWantTheApiKey()
    {
        // Arrange: a real server, and one scrape before any request.
        var folder = Directory.CreateTempSubdirectory("tessera-serve-metrics-").FullName;
        try
        {
            using var serve = TesseraProcess.Start(["serve", "--model", TestPaths.Model(Model + ".gguf"), "--listen", "127.0.0.1:0", "--api-key", Key,
                "--threads", "1", "--context", "256", "--batch-dir", Path.Combine(folder, "batches")]);
            await serve.WaitForStdoutAsync("Press Ctrl+C", TimeSpan.FromSeconds(60));
            using var http = new HttpClient { BaseAddress = new Uri(ServingAt().Match(serve.Stdout).Groups[1].Value), Timeout = TimeSpan.FromSeconds(60) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
            var before = await ScrapeAsync(http);

            // Act: a chat completion, a streamed one with its usage, and a request for a model this server does not have.
            var plain = await ChatAsync(http, Model, stream: false, maxTokens: 5);
            var streamed = await ChatAsync(http, Model, stream: true, maxTokens: 7);
            var unknown = await ChatAsync(http, "no-such-model", stream: false, maxTokens: 5);
            var after = await ScrapeAsync(http);

            // Assert: requests by status, tokens by the usage the server reported, one first token per request and one
            // gap per later token, all under the model's name; the unknown model counts under no deployment.
            Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
            (string, string)[] ok = [("deployment", Model), ("endpoint", "chat"), ("status", "200")];
            Assert.Equal(2, Delta("tessera_requests_total", ok));
            Assert.Equal(1, Delta("tessera_requests_total", ("deployment", ""), ("endpoint", "chat"), ("status", "404")));
            var generated = plain.CompletionTokens + streamed.CompletionTokens;
            Assert.True(generated > 2, $"{plain.CompletionTokens} + {streamed.CompletionTokens} tokens");
            Assert.Equal(generated, Delta("tessera_generated_tokens_total", ("deployment", Model)));
            Assert.Equal(plain.PromptTokens + streamed.PromptTokens, Delta("tessera_prompt_tokens_total", ("deployment", Model)));
            Assert.Equal(2, Delta("tessera_time_to_first_token_seconds_count", ("deployment", Model)));
            Assert.Equal(generated - 2, Delta("tessera_time_per_output_token_seconds_count", ("deployment", Model)));
            Assert.True(Delta("tessera_time_to_first_token_seconds_sum", ("deployment", Model)) > 0);
            Assert.Equal("counter", after.Types["tessera_requests_total"]);
            Assert.Equal("histogram", after.Types["tessera_time_to_first_token_seconds"]);
            Assert.Equal(0, after.Sum("tessera_sessions_active", ("deployment", Model)));
            Assert.Single(after.Series("tessera_sessions_queued", ("deployment", Model)));
            Assert.True(after.Sum("tessera_kv_cache_capacity_positions", ("deployment", Model)) > 0);
            Assert.Contains(after.Samples, s => s.Name == "process_cpu_seconds_total");
            MetricsDocs.AssertDocumented(after);

            // Without the key, or with a wrong one, /metrics is refused as /v1 is.
            using var anonymous = new HttpClient { BaseAddress = http.BaseAddress };
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);
            anonymous.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "tsk_wrong");
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);

            double Delta(string name, params (string, string)[] labels) => after.Sum(name, labels) - before.Sum(name, labels);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<PrometheusText> ScrapeAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
        return PrometheusText.Parse(text);
    }

    private sealed record Answer(HttpStatusCode Status, int PromptTokens, int CompletionTokens);

    /// <summary>A greedy chat completion; streamed with include_usage, so both forms report their usage.</summary>
    private static async Task<Answer> ChatAsync(HttpClient http, string model, bool stream, int maxTokens)
    {
        using var response = await http.PostAsJsonAsync("/v1/chat/completions", new
        {
            model,
            messages = new[] { new { role = "user", content = "Tell me a story" } },
            max_tokens = maxTokens,
            temperature = 0,
            stream,
            stream_options = stream ? new { include_usage = true } : null,
        });
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
            return new Answer(response.StatusCode, 0, 0);
        var usage = stream
            ? body.Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal)).Select(l => JsonDocument.Parse(l[6..]).RootElement)
                .Single(e => e.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object).GetProperty("usage")
            : JsonDocument.Parse(body).RootElement.GetProperty("usage");
        return new Answer(response.StatusCode, usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32());
    }

    [GeneratedRegex(@"at (http://\S+)/v1")]
    private static partial Regex ServingAt();
}
