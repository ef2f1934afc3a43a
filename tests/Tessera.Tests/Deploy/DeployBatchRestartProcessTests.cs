using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Deploy;

/// <summary>
/// A batch over a deployment while the coordinator is killed (-9) and started again on the same data directory: the
/// batch goes on where it stopped and every line is in the output exactly once.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class DeployBatchRestartProcessTests(DeployPoolFixture pool, ITestOutputHelper output) : IClassFixture<DeployPoolFixture>
{
    private const int Lines = 12;

    [Fact]
    public async Task CoordinatorKilledMidBatch_TheBatchFinishesAfterTheRestart_EachLineOnce()
    {
        var deploy = await pool.RunAsync("deploy", TestPaths.Model("tiny-a-q8_0.gguf"), "--name", "tiny-batch", "--threads", "1", "--context", "256",
            "--max-sessions", "4", "--timeout", "60s");
        Assert.True(deploy.ExitCode == 0, $"{deploy.Stdout}\n{deploy.Stderr}\n{pool.Logs}");

        string batchId;
        using (var http = pool.OpenAi())
        {
            batchId = await StartAsync(http, Enumerable.Range(0, Lines).Select(i => JsonSerializer.Serialize(new
            {
                custom_id = $"n{i}", method = "POST", url = "/v1/completions",
                body = new { model = "tiny-batch", prompt = $"Story {i}:", max_tokens = 24, temperature = 0 },
            })), "/v1/completions");
            await PollAsync(http, batchId, b => b.GetProperty("request_counts").GetProperty("completed").GetInt32() >= 2, TimeSpan.FromSeconds(60));
        }

        pool.Harness.Coordinator!.Kill();
        await pool.Harness.StartCoordinatorAsync("--no-agent");

        using var again = pool.OpenAi();
        var done = await PollAsync(again, batchId, b => b.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(120));
        output.WriteLine(done.ToString());
        Assert.Equal(Lines, done.GetProperty("request_counts").GetProperty("completed").GetInt32());
        var text = await again.GetStringAsync($"v1/files/{done.GetProperty("output_file_id").GetString()}/content");
        var answers = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(Enumerable.Range(0, Lines).Select(i => $"n{i}"), answers.Select(a => a.GetProperty("custom_id").GetString()));
        Assert.All(answers, a => Assert.Equal(200, a.GetProperty("response").GetProperty("status_code").GetInt32()));

        // The files' bytes live in the coordinator's content store, beside the model, each held against its eviction.
        var content = Path.Combine(pool.Harness.CoordinatorDir, "content");
        var outputHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text)));
        Assert.True(File.Exists(Path.Combine(content, "blobs", "sha256", outputHash)));
        Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(content, "holds", outputHash)));
        Assert.False(Directory.Exists(Path.Combine(pool.Harness.CoordinatorDir, "batches", "files")));
    }

    internal static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {response.RequestMessage?.RequestUri}: {text}");
            return JsonDocument.Parse(text).RootElement.Clone();
        }
    }

    /// <summary>Polls the batch until <paramref name="until"/>; a coordinator that is starting again answers errors meanwhile.</summary>
    private Task<JsonElement> PollAsync(HttpClient http, string id, Func<JsonElement, bool> until, TimeSpan timeout) =>
        PollAsync(http, id, until, timeout, () => pool.Logs);

    internal static async Task<string> StartAsync(HttpClient http, IEnumerable<string> lines, string endpoint)
    {
        using var form = new MultipartFormDataContent { { new StringContent("batch"), "purpose" } };
        form.Add(new ByteArrayContent(Encoding.UTF8.GetBytes(string.Join("\n", lines))) { Headers = { ContentType = new MediaTypeHeaderValue("application/jsonl") } }, "file", "in.jsonl");
        var file = await ReadAsync(await http.PostAsync("v1/files", form));
        var batch = await ReadAsync(await http.PostAsync("v1/batches", new StringContent(
            JsonSerializer.Serialize(new { input_file_id = file.GetProperty("id").GetString(), endpoint, completion_window = "24h" }),
            Encoding.UTF8, "application/json")));
        return batch.GetProperty("id").GetString()!;
    }

    internal static async Task<JsonElement> PollAsync(HttpClient http, string id, Func<JsonElement, bool> until, TimeSpan timeout, Func<string> logs)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync($"v1/batches/{id}");
                last = await response.Content.ReadAsStringAsync();
                if (response.IsSuccessStatusCode && JsonDocument.Parse(last).RootElement.Clone() is var batch && until(batch))
                    return batch;
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }
            await Task.Delay(200);
        }
        Assert.Fail($"batch {id} did not get there within {timeout}: {last}\n{logs()}");
        return default;
    }
}
