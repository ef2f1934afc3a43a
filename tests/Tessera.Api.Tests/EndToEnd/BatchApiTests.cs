using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Files;
using Tessera.Api.Batches;
using Tessera.Cli.Hosting;
using Tessera.Distribution;

namespace Tessera.Api.Tests.EndToEnd;

/// <summary>OpenAI's Batch API on a real model: files through the official client, batches over HTTP, restarts on the same folder.</summary>
[Collection(TinyModelCollection.Name)]
[Trait("Category", "EndToEnd")]
public sealed partial class BatchApiTests(TinyModelServer fixture) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tessera-batches-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private Task<OpenAiServer> StartAsync(int concurrentLines = 2, ContentStore? content = null) => OpenAiServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), fixture.Service,
        ApiKeyValidators.Single(TinyModelServer.Key), new OpenAiApiOptions
        {
            Batches = new BatchOptions
            {
                Directory = _directory, Files = new ContentStoreBatchFiles(content ?? new ContentStore(Path.Combine(_directory, "content"))), MaxConcurrentLines = concurrentLines,
                PollInterval = TimeSpan.FromMilliseconds(100), BusyBackoff = TimeSpan.FromMilliseconds(100),
            },
        });

    private static HttpClient Http(OpenAiServer server)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TinyModelServer.Key);
        return http;
    }

    private static OpenAIFileClient Files(OpenAiServer server) => new(new ApiKeyCredential(TinyModelServer.Key),
        new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1"), RetryPolicy = new ClientRetryPolicy(0) });

    private static string ChatLine(string id, string prompt, int maxTokens = 8) => JsonSerializer.Serialize(new
    {
        custom_id = id,
        method = "POST",
        url = "/v1/chat/completions",
        body = new { model = TinyModelServer.ModelId, messages = new[] { new { role = "user", content = prompt } }, max_tokens = maxTokens, temperature = 0 },
    });

    private static async Task<string> UploadAsync(OpenAiServer server, IEnumerable<string> lines)
    {
        var bytes = Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n");
        OpenAIFile file = await Files(server).UploadFileAsync(new MemoryStream(bytes), "requests.jsonl", FileUploadPurpose.Batch);
        Assert.Equal(bytes.Length, file.SizeInBytes);
        return file.Id;
    }

    private static async Task<JsonElement> PostJsonAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task<JsonElement> WaitAsync(HttpClient http, string id, Func<JsonElement, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var batch = JsonDocument.Parse(await http.GetStringAsync($"/v1/batches/{id}")).RootElement.Clone();
            if (until(batch))
                return batch;
            Assert.True(DateTime.UtcNow < deadline, $"batch still {batch.GetProperty("status")}: {batch}");
            await Task.Delay(100);
        }
    }

    private static async Task<List<JsonElement>> DownloadLinesAsync(OpenAiServer server, string fileId)
    {
        BinaryData data = await Files(server).DownloadFileAsync(fileId);
        return data.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    [Fact]
    public async Task ABatchOfChats_AnswersEveryLineOnce_AsTheEndpointWould()
    {
        await using var server = await StartAsync();
        using var http = Http(server);
        string[] prompts = ["Say hello.", "Count to three.", "Name a colour.", "What is 2+2?", "Tell a joke."];
        var input = await UploadAsync(server, prompts.Select((p, i) => ChatLine($"req-{i}", p)));

        var created = await PostJsonAsync(http, "/v1/batches", new { input_file_id = input, endpoint = "/v1/chat/completions", completion_window = "24h", metadata = new { job = "test" } });
        Assert.Equal("batch", created.GetProperty("object").GetString());
        Assert.Equal(5, created.GetProperty("request_counts").GetProperty("total").GetInt32());
        var done = await WaitAsync(http, created.GetProperty("id").GetString()!, b => b.GetProperty("status").GetString() == "completed");

        Assert.Equal(5, done.GetProperty("request_counts").GetProperty("completed").GetInt32());
        Assert.Equal("test", done.GetProperty("metadata").GetProperty("job").GetString());
        Assert.Equal(JsonValueKind.Null, done.GetProperty("error_file_id").ValueKind);
        var lines = await DownloadLinesAsync(server, done.GetProperty("output_file_id").GetString()!);
        Assert.Equal(prompts.Select((_, i) => $"req-{i}"), lines.Select(l => l.GetProperty("custom_id").GetString()));
        for (var i = 0; i < prompts.Length; i++)
        {
            var response = lines[i].GetProperty("response");
            Assert.Equal(200, response.GetProperty("status_code").GetInt32());
            // The same request straight to the endpoint (greedy) gives the same text.
            var direct = await PostJsonAsync(http, "/v1/chat/completions", JsonDocument.Parse(ChatLine("x", prompts[i])).RootElement.GetProperty("body"));
            Assert.Equal(direct.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(),
                response.GetProperty("body").GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        }
    }

    [Fact]
    public async Task LinesTheEndpointRefuses_GoToTheErrorFile_AndBadFilesFailTheBatch()
    {
        await using var server = await StartAsync();
        using var http = Http(server);
        var tooLong = JsonSerializer.Serialize(new
        {
            custom_id = "bad", method = "POST", url = "/v1/chat/completions",
            body = new { model = TinyModelServer.ModelId, messages = new[] { new { role = "user", content = "hi" } }, temperature = 5 },
        });
        var input = await UploadAsync(server, [ChatLine("good", "Say hello."), tooLong]);
        var created = await PostJsonAsync(http, "/v1/batches", new { input_file_id = input, endpoint = "/v1/chat/completions", completion_window = "24h" });
        var done = await WaitAsync(http, created.GetProperty("id").GetString()!, b => b.GetProperty("status").GetString() == "completed");
        Assert.Equal(1, done.GetProperty("request_counts").GetProperty("failed").GetInt32());
        var errors = await DownloadLinesAsync(server, done.GetProperty("error_file_id").GetString()!);
        Assert.Equal("bad", Assert.Single(errors).GetProperty("custom_id").GetString());
        Assert.Equal(400, errors[0].GetProperty("response").GetProperty("status_code").GetInt32());
        Assert.Contains("temperature", errors[0].GetProperty("response").GetProperty("body").GetProperty("error").GetProperty("message").GetString());

        var broken = await UploadAsync(server, [ChatLine("a", "x"), "{not json", ChatLine("a", "duplicate id"), """{"custom_id":"s","method":"POST","url":"/v1/chat/completions","body":{"stream":true}}"""]);
        var failed = await PostJsonAsync(http, "/v1/batches", new { input_file_id = broken, endpoint = "/v1/chat/completions", completion_window = "24h" });
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        var lineErrors = failed.GetProperty("errors").GetProperty("data").EnumerateArray().ToList();
        Assert.Equal([2, 3, 4], lineErrors.Select(e => e.GetProperty("line").GetInt32()));
        Assert.Contains("used twice", lineErrors[1].GetProperty("message").GetString());
        Assert.Contains("cannot stream", lineErrors[2].GetProperty("message").GetString());

        using var unknown = await http.PostAsync("/v1/batches", new StringContent("""{"input_file_id":"file-nope","endpoint":"/v1/chat/completions","completion_window":"24h"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var badEndpoint = await http.PostAsync("/v1/batches", new StringContent($$"""{"input_file_id":"{{input}}","endpoint":"/v1/images","completion_window":"24h"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badEndpoint.StatusCode);
    }

    [Fact]
    public async Task AServerStoppedMidBatch_GoesOnAfterARestart_EachLineOnceInTheOutput()
    {
        const int count = 8;
        string batchId;
        var server = await StartAsync(concurrentLines: 1);
        try
        {
            using var http = Http(server);
            var input = await UploadAsync(server, Enumerable.Range(0, count).Select(i => ChatLine($"line-{i}", $"Story number {i}:", maxTokens: 24)));
            var created = await PostJsonAsync(http, "/v1/batches", new { input_file_id = input, endpoint = "/v1/chat/completions", completion_window = "24h" });
            batchId = created.GetProperty("id").GetString()!;
            await WaitAsync(http, batchId, b => b.GetProperty("request_counts").GetProperty("completed").GetInt32() >= 2);
        }
        finally
        {
            await server.DisposeAsync();
        }

        await using var again = await StartAsync(concurrentLines: 2);
        using var http2 = Http(again);
        var before = JsonDocument.Parse(await http2.GetStringAsync($"/v1/batches/{batchId}")).RootElement;
        Assert.InRange(before.GetProperty("request_counts").GetProperty("completed").GetInt32(), 2, count - 1);
        var done = await WaitAsync(http2, batchId, b => b.GetProperty("status").GetString() == "completed");
        var lines = await DownloadLinesAsync(again, done.GetProperty("output_file_id").GetString()!);
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"line-{i}"), lines.Select(l => l.GetProperty("custom_id").GetString()));
    }

    [Fact]
    public async Task CancellingABatch_StopsIt_WithWhatWasDoneInTheOutput()
    {
        await using var server = await StartAsync(concurrentLines: 1);
        using var http = Http(server);
        var input = await UploadAsync(server, Enumerable.Range(0, 30).Select(i => ChatLine($"c-{i}", $"Line {i}", maxTokens: 24)));
        var created = await PostJsonAsync(http, "/v1/batches", new { input_file_id = input, endpoint = "/v1/chat/completions", completion_window = "24h" });
        var id = created.GetProperty("id").GetString()!;
        await WaitAsync(http, id, b => b.GetProperty("request_counts").GetProperty("completed").GetInt32() >= 1);

        var cancelling = await PostJsonAsync(http, $"/v1/batches/{id}/cancel", new { });
        Assert.Contains(cancelling.GetProperty("status").GetString(), new[] { "cancelling", "cancelled" });
        var cancelled = await WaitAsync(http, id, b => b.GetProperty("status").GetString() == "cancelled");
        var completed = cancelled.GetProperty("request_counts").GetProperty("completed").GetInt32();
        Assert.InRange(completed, 1, 29);
        Assert.Equal(completed, (await DownloadLinesAsync(server, cancelled.GetProperty("output_file_id").GetString()!)).Count);

        using var again = await http.PostAsync($"/v1/batches/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    [Fact]
    public async Task Files_ListGetDelete_AndUploadsAreChecked()
    {
        await using var server = await StartAsync();
        using var http = Http(server);
        var id = await UploadAsync(server, [ChatLine("a", "x")]);
        var files = Files(server);
        Assert.Contains((await files.GetFilesAsync()).Value, f => f.Id == id);
        Assert.Equal("requests.jsonl", (await files.GetFileAsync(id)).Value.Filename);
        Assert.True((await files.DeleteFileAsync(id)).Value.Deleted);
        using var gone = await http.GetAsync($"/v1/files/{id}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);

        using var form = new MultipartFormDataContent { { new StringContent("fine-tune"), "purpose" }, { new ByteArrayContent("{}"u8.ToArray()), "file", "x.jsonl" } };
        using var wrongPurpose = await http.PostAsync("/v1/files", form);
        Assert.Equal(HttpStatusCode.BadRequest, wrongPurpose.StatusCode);
        Assert.Contains("purpose must be 'batch'", await wrongPurpose.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Files_LiveInTheContentStore_HeldAgainstItsEviction_AndGoWhenDeleted()
    {
        // A model cache with a small budget, shared with the batch files as on a coordinator.
        var content = new ContentStore(Path.Combine(_directory, "cache"), maxBytes: 64 << 10);
        await using var server = await StartAsync(content: content);
        using var http = Http(server);
        var bytes = Encoding.UTF8.GetBytes(string.Join("\n", Enumerable.Range(0, 3).Select(i => ChatLine($"h-{i}", $"Hello {i}"))) + "\n");
        OpenAIFile input = await Files(server).UploadFileAsync(new MemoryStream(bytes), "requests.jsonl", FileUploadPurpose.Batch);
        var hash = ContentHash.Of(bytes);
        Assert.True(content.Contains(hash));
        Assert.True(content.IsHeld(hash));

        // Models pass through the cache far beyond its budget: the held file stays, the models' blobs are evicted.
        for (var i = 0; i < 4; i++)
        {
            var model = Path.Combine(_directory, $"model-{i}.bin");
            await File.WriteAllBytesAsync(model, Enumerable.Repeat((byte)(i + 10), 40 << 10).ToArray());
            await content.ImportAsync(model);
        }
        Assert.InRange(content.TotalBytes, (40 << 10) + bytes.Length, 64 << 10);
        Assert.True(content.Contains(hash));

        var created = await PostJsonAsync(http, "/v1/batches", new { input_file_id = input.Id, endpoint = "/v1/chat/completions", completion_window = "24h" });
        var done = await WaitAsync(http, created.GetProperty("id").GetString()!, b => b.GetProperty("status").GetString() == "completed");
        var outputId = done.GetProperty("output_file_id").GetString()!;
        BinaryData output = await Files(server).DownloadFileAsync(outputId);
        var outputHash = ContentHash.Of(output.ToArray());
        Assert.True(content.IsHeld(outputHash));
        Assert.Equal(3, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        // Deleting a file frees its bytes at once.
        Assert.True((await Files(server).DeleteFileAsync(input.Id)).Value.Deleted);
        Assert.False(content.Contains(hash));
        Assert.True(content.Contains(outputHash));

        // Bytes removed behind the store's back: a clear error naming what to do, not a crash.
        File.Delete(content.GetBlobPath(outputHash));
        using var gone = await http.GetAsync($"/v1/files/{outputId}/content");
        Assert.Equal(HttpStatusCode.Gone, gone.StatusCode);
        Assert.Contains("upload it again", await gone.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AStoreOpened_AdoptsFilesOfEarlierVersions_AndDropsUploadsACrashCutShort()
    {
        var content = new ContentStore(Path.Combine(_directory, "cache"));
        using (var first = new BatchStore(_directory, new ContentStoreBatchFiles(content)))
        {
            first.AddFile(new StoredFile("file-old", "key", "batch", "old.jsonl", 5, 1));
            first.AddFile(new StoredFile("file-cut", "key", "batch", "cut.jsonl", 99, 2));
        }
        Directory.CreateDirectory(Path.Combine(_directory, "files"));
        await File.WriteAllTextAsync(Path.Combine(_directory, "files", "file-old"), "{}\n{}");

        using var store = new BatchStore(_directory, new ContentStoreBatchFiles(content));
        var adopted = store.FindFile("file-old");
        Assert.NotNull(adopted);
        Assert.Equal("{}\n{}", await File.ReadAllTextAsync(store.ContentPath(adopted)!));
        Assert.True(content.IsHeld(ContentHash.Parse(adopted.Sha256!)));
        Assert.False(File.Exists(Path.Combine(_directory, "files", "file-old")));
        Assert.Null(store.FindFile("file-cut"));
        Assert.Equal(5, store.TotalFileBytes());
    }
}
