using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Tessera.Deploy;
using Tessera.Pool;
using Tessera.Testing;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Deploy;

/// <summary>
/// <c>tessera deploy</c> end to end with real processes: a coordinator and three agents on 127.0.0.1, a model split
/// over three stages that fetch their slices from the coordinator, served at the coordinator's /v1.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed partial class DeployProcessTests(DeployPoolFixture pool) : IClassFixture<DeployPoolFixture>
{
    private const string Prompt = "Once upon a time";
    private const int Tokens = 12;

    [Fact]
    public async Task Deploy_OverThreeAgentsWithF32Activations_GivesTheGreedyTokensOfOneProcess_AndUndeployFreesTheStages()
    {
        // Arrange: the reference, the whole model in one process.
        var model = TestPaths.Model("tiny-a-q8_0.gguf");
        var reference = await TesseraProcess.RunAsync(["generate", "-m", model, "-p", Prompt, "-n", Tokens.ToString(CultureInfo.InvariantCulture),
            "--temperature", "0", "--threads", "1", "-o", "json"], TimeSpan.FromSeconds(60));
        Assert.True(reference.ExitCode == 0, reference.Stderr);
        var expected = reference.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement)
            .Where(e => e.TryGetProperty("id", out _))
            .Select(e => (Text: e.GetProperty("text").GetString()!, LogProb: e.GetProperty("logprob").GetDouble()))
            .ToList();
        Assert.Equal(Tokens, expected.Count);

        // Act: deploy over three stages; the agents fetch their slices over mTLS even though the file is on this machine.
        var deploy = await pool.RunAsync("deploy", model, "--name", "tiny", "--min-stages", "3", "--activations", "f32", "--threads", "1",
            "--context", "256", "--max-sessions", "2", "--fetch", "--timeout", "60s");

        // Assert: three ready stages on three nodes, in plan order.
        Assert.True(deploy.ExitCode == 0, $"{deploy.Stdout}\n{deploy.Stderr}\n{pool.Logs}");
        Assert.Contains("Predicted tokens/s", deploy.Stdout);
        Assert.Contains("is ready at", deploy.Stdout);
        using var api = pool.Client();
        var view = await api.GetAsync("tiny", CancellationToken.None);
        Assert.Equal(DeploymentStates.Ready, view.State);
        Assert.Equal(3, view.Stages.Count);
        Assert.All(view.Stages, s => Assert.Equal(StageStates.Ready, s.State));
        Assert.Equal(3, view.Stages.Select(s => s.NodeId).Distinct().Count());
        Assert.Equal(0, view.Stages[0].FirstLayer);
        for (var i = 1; i < 3; i++)
            Assert.Equal(view.Stages[i - 1].LastLayer, view.Stages[i].FirstLayer);

        // The same greedy tokens through the coordinator's /v1, with log-probabilities.
        using var http = pool.OpenAi();
        using var response = await http.PostAsJsonAsync("v1/completions", new
        {
            model = "tiny",
            prompt = Prompt,
            max_tokens = Tokens,
            temperature = 0,
            logprobs = 1,
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var choice = JsonDocument.Parse(body).RootElement.GetProperty("choices")[0];
        Assert.Equal(string.Concat(expected.Select(e => e.Text)), choice.GetProperty("text").GetString());
        var actual = choice.GetProperty("logprobs").GetProperty("token_logprobs").EnumerateArray().Select(e => e.GetDouble()).ToList();
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < actual.Count; i++)
            Assert.True(Math.Abs(expected[i].LogProb - actual[i]) < 1e-4, $"token {i}: {expected[i].LogProb} vs {actual[i]}");

        // A chat request works too.
        using var chat = await http.PostAsJsonAsync("v1/chat/completions", new
        {
            model = "tiny",
            messages = new[] { new { role = "user", content = "Hello" } },
            max_tokens = 4,
            temperature = 0,
        });
        Assert.True(chat.StatusCode == HttpStatusCode.OK, await chat.Content.ReadAsStringAsync());

        // Undeploy: gone from the list and from /v1; every agent stops its stage.
        var undeploy = await pool.RunAsync("undeploy", "tiny");
        Assert.True(undeploy.ExitCode == 0, undeploy.Stderr);
        Assert.DoesNotContain(await api.ListAsync(CancellationToken.None), d => d.Name == "tiny");
        using var after = await http.PostAsJsonAsync("v1/completions", new { model = "tiny", prompt = Prompt, max_tokens = 1 });
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
        await WaitUntilAsync(() => pool.AgentsSaying("of tiny stopped") == 3, TimeSpan.FromSeconds(15), "every agent to stop its stage");
    }

    [Fact]
    public async Task Deploy_ModelLargerThanThePool_IsRefusedWithThePlannersMessage_AndStoresNothing()
    {
        var model = TestPaths.Model("tiny-a-q8_0.gguf");

        var deploy = await pool.RunAsync("deploy", model, "--name", "too-big", "--context", "1000000", "--max-sessions", "1000", "--timeout", "30s");

        Assert.Equal(3, deploy.ExitCode);
        Assert.Contains("missing", deploy.Stderr + deploy.Stdout, StringComparison.OrdinalIgnoreCase);
        using var api = pool.Client();
        Assert.DoesNotContain(await api.ListAsync(CancellationToken.None), d => d.Name == "too-big");
    }

    [Fact]
    public async Task Plan_ShowsWhereEachLayerWouldGo_AsDeployWouldPlace_AndStartsNothing()
    {
        var model = TestPaths.Model("tiny-a-q8_0.gguf");

        var plan = await pool.RunAsync("plan", model, "--name", "planned", "--min-stages", "3", "--context", "256", "--output", "json");

        Assert.True(plan.ExitCode == 0, $"{plan.Stdout}\n{plan.Stderr}");
        var view = JsonDocument.Parse(plan.Stdout).RootElement;
        Assert.Equal("planned", view.GetProperty("name").GetString());
        var stages = view.GetProperty("stages").EnumerateArray().ToList();
        Assert.Equal(3, stages.Count);
        Assert.Equal(3, stages.Select(s => s.GetProperty("nodeId").GetString()).Distinct().Count());
        var next = 0;
        foreach (var stage in stages)
        {
            Assert.Equal(next, stage.GetProperty("firstLayer").GetInt32());
            next = stage.GetProperty("lastLayer").GetInt32();
            Assert.InRange(stage.GetProperty("memoryBytes").GetInt64(), 1, stage.GetProperty("availableBytes").GetInt64());
            Assert.True(stage.GetProperty("computeMilliseconds").GetDouble() > 0);
        }
        Assert.Equal(view.GetProperty("layerCount").GetInt32(), next);
        Assert.True(view.GetProperty("singleStreamTokensPerSecond").GetDouble() > 0);
        Assert.True(view.GetProperty("maxThroughputTokensPerSecond").GetDouble() >= view.GetProperty("singleStreamTokensPerSecond").GetDouble());
        using var api = pool.Client();
        Assert.DoesNotContain(await api.ListAsync(CancellationToken.None), d => d.Name == "planned");

        Assert.True(view.GetProperty("timeToFirstTokenSeconds").GetDouble() >= view.GetProperty("prefillSeconds").GetDouble());
        Assert.True(view.GetProperty("prefillSeconds").GetDouble() > 0);
        Assert.InRange(view.GetProperty("tokenLatencyP99Milliseconds").GetDouble(), view.GetProperty("tokenLatencyP50Milliseconds").GetDouble(), 1e6);
        Assert.Empty(view.GetProperty("alternatives").EnumerateArray()); // only with --explain

        var explained = await pool.RunAsync("plan", model, "--replicas", "auto", "--context", "256", "--explain", "--prompt-tokens", "64", "--output", "json");
        Assert.True(explained.ExitCode == 0, explained.Stderr);
        var auto = JsonDocument.Parse(explained.Stdout).RootElement;
        Assert.Equal(64, auto.GetProperty("promptTokens").GetInt32());
        Assert.InRange(auto.GetProperty("replicas").GetInt32(), 1, 3);
        Assert.True(auto.GetProperty("explanation").GetString()!.Contains("Replicas chosen by the planner", StringComparison.Ordinal), explained.Stdout);
        Assert.All(auto.GetProperty("alternatives").EnumerateArray(), a => Assert.False(string.IsNullOrEmpty(a.GetProperty("why").GetString())));
        Assert.NotEmpty(auto.GetProperty("alternatives").EnumerateArray());

        var table = await pool.RunAsync("plan", model, "--min-stages", "2", "--context", "256");
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("Predicted:", table.Stdout);
        Assert.Contains("single-stream", table.Stdout);

        var tooBig = await pool.RunAsync("plan", model, "--context", "1000000", "--max-sessions", "1000");
        Assert.Equal(3, tooBig.ExitCode);
        Assert.Contains("missing", tooBig.Stderr + tooBig.Stdout, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task PlansEndpoint_WantsTheAdminKey_AndAnObjectBody()
    {
        using var withApiKey = pool.OpenAi(); // a key for /v1 is not the admin key
        using var refused = await withApiKey.PostAsJsonAsync("api/plans", new { model = TestPaths.Model("tiny-a-q8_0.gguf") });
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        var bad = await pool.RunAsync("plan", TestPaths.Model("tiny-a-q8_0.gguf"), "--prompt-tokens", "0");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("promptTokens must be at least 1", bad.Stderr + bad.Stdout);
        var badReplicas = await pool.RunAsync("plan", TestPaths.Model("tiny-a-q8_0.gguf"), "--replicas", "many");
        Assert.NotEqual(0, badReplicas.ExitCode);
        Assert.Contains("--replicas takes a number of at least 1 or auto", badReplicas.Stderr + badReplicas.Stdout);
    }

    [Fact]
    public async Task UnknownDeployment_Gives404_InOpenAisErrorShape_AndInTheAdminApi()
    {
        using var http = pool.OpenAi();

        using var response = await http.PostAsJsonAsync("v1/chat/completions", new
        {
            model = "no-such-deployment",
            messages = new[] { new { role = "user", content = "Hello" } },
        });

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Contains("no-such-deployment", error.GetProperty("message").GetString());
        var undeploy = await pool.RunAsync("undeploy", "no-such-deployment");
        Assert.NotEqual(0, undeploy.ExitCode);
        Assert.Contains("No deployment named", undeploy.Stderr);
    }

    /// <summary>
    /// <c>tessera bench --deployment</c> drives the coordinator's /v1 with concurrent streams (token-id prompts, greedy,
    /// ignore_eos) and reports what the issue asks: TTFT, per-token p50/p99 and aggregate tokens/s per stream count.
    /// </summary>
    [Fact]
    public async Task BenchDeployment_DrivesTheApiWithConcurrentStreams_AndReportsLatenciesAndThroughput()
    {
        var deploy = await pool.RunAsync("deploy", TestPaths.Model("tiny-a-q4_0.gguf"), "--name", "tiny-bench", "--min-stages", "2", "--threads", "1",
            "--context", "128", "--max-sessions", "4", "--timeout", "60s");
        Assert.True(deploy.ExitCode == 0, $"{deploy.Stdout}\n{deploy.Stderr}\n{pool.Logs}");

        var bench = await TesseraProcess.RunAsync(["bench", "--deployment", "tiny-bench", "--url", pool.ApiUrl + "/v1", "--api-key", pool.ApiKey,
            "--cacert", new PoolDataDirectory(pool.CoordinatorDir).CaCertificate, "--streams", "1,3", "--prompt-tokens", "5", "--decode-tokens", "7",
            "--runs", "1", "-o", "json"], TimeSpan.FromSeconds(120));

        Assert.True(bench.ExitCode == 0, $"{bench.Stdout}\n{bench.Stderr}");
        var root = JsonDocument.Parse(bench.Stdout).RootElement;
        Assert.Contains("tiny-bench", root.GetProperty("target").GetString());
        var reports = root.GetProperty("reports").EnumerateArray().ToList();
        Assert.Equal([1, 3], reports.Select(r => r.GetProperty("streams").GetInt32()));
        foreach (var r in reports)
        {
            Assert.Equal(7, r.GetProperty("decode_tokens").GetInt32());
            var ttft50 = r.GetProperty("time_to_first_token_p50_ms").GetDouble();
            Assert.True(ttft50 > 0 && ttft50 <= r.GetProperty("time_to_first_token_p99_ms").GetDouble(), r.ToString());
            Assert.True(r.GetProperty("token_latency_p50_ms").GetDouble() <= r.GetProperty("token_latency_p99_ms").GetDouble(), r.ToString());
            // every stream produced all its tokens (ignore_eos): aggregate = streams x tokens / wall time
            var expected = r.GetProperty("streams").GetInt32() * 7 / r.GetProperty("wall_seconds").GetDouble();
            Assert.Equal(expected, r.GetProperty("aggregate_tokens_per_second").GetDouble(), expected * 1e-6);
        }

        var undeploy = await pool.RunAsync("undeploy", "tiny-bench");
        Assert.True(undeploy.ExitCode == 0, undeploy.Stderr);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Timed out waiting for {what}.");
            await Task.Delay(100);
        }
    }
}
