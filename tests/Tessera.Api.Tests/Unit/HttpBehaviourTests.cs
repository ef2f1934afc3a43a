using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Tessera.Api.Streaming;
using Tessera.Engine.Generation;
using Tessera.Generation;

namespace Tessera.Api.Tests.Unit;

/// <summary>The HTTP surface against a scripted service: status codes, error shapes, SSE, stop strings, cancellation.</summary>
public sealed partial class HttpBehaviourTests : IAsyncLifetime
{
    private const string Key = "tsk_test-key";
    private readonly FakeGenerationService _service = new();
    private OpenAiServer _server = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _server = await OpenAiServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), _service, ApiKeyValidators.Single(Key),
            new OpenAiApiOptions { TokenDecoder = new Decoder() });
        _http = new HttpClient { BaseAddress = _server.BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    private sealed class Decoder : ITokenDecoder
    {
        public byte[]? TokenBytes(string model, int tokenId) => Encoding.UTF8.GetBytes($"t{tokenId}");
    }

    private Task<HttpResponseMessage> PostAsync(string path, string json) =>
        _http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response, HttpStatusCode status, string? code)
    {
        Assert.Equal(status, response.StatusCode);
        var error = await OpenAiErrorShape.ReadAsync(response);
        Assert.Equal(code, error.GetProperty("code").ValueKind == JsonValueKind.Null ? null : error.GetProperty("code").GetString());
        return error;
    }

    private const string Chat = """{"model":"fake","messages":[{"role":"user","content":"hi"}]}""";

    [Fact]
    public async Task MissingKey_Is401InvalidApiKey()
    {
        using var anonymous = new HttpClient { BaseAddress = _server.BaseAddress };
        await ErrorOf(await anonymous.PostAsync("v1/chat/completions", new StringContent(Chat, Encoding.UTF8, "application/json")), HttpStatusCode.Unauthorized, "invalid_api_key");
        await ErrorOf(await anonymous.GetAsync("v1/models"), HttpStatusCode.Unauthorized, "invalid_api_key");
    }

    [Fact]
    public async Task WrongKey_Is401InvalidApiKey()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "v1/models");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "tsk_wrong");
        await ErrorOf(await _http.SendAsync(request), HttpStatusCode.Unauthorized, "invalid_api_key");
    }

    [Fact]
    public async Task UnknownModel_Is404ModelNotFound()
    {
        var error = await ErrorOf(await PostAsync("v1/chat/completions", """{"model":"nope","messages":[{"role":"user","content":"hi"}]}"""), HttpStatusCode.NotFound, "model_not_found");
        Assert.Equal("model", error.GetProperty("param").GetString());
        await ErrorOf(await _http.GetAsync("v1/models/nope"), HttpStatusCode.NotFound, "model_not_found");
    }

    [Fact]
    public async Task MalformedJson_Is400()
    {
        var error = await ErrorOf(await PostAsync("v1/chat/completions", "{\"model\": "), HttpStatusCode.BadRequest, null);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task InvalidField_Is400WithParam()
    {
        var error = await ErrorOf(await PostAsync("v1/completions", """{"model":"fake","prompt":"x","n":3}"""), HttpStatusCode.BadRequest, null);
        Assert.Equal("n", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task BodyLargerThanTheLimit_Is413_WhetherItsLengthIsDeclaredOrNot()
    {
        var huge = "{\"model\":\"fake\",\"prompt\":\"" + new string('x', 9 << 20) + "\"}";

        var declared = await PostAsync("v1/completions", huge);
        await ErrorOf(declared, HttpStatusCode.RequestEntityTooLarge, "request_too_large");

        // chunked: no Content-Length, so the server must stop reading at the bound
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(huge)));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        await ErrorOf(await _http.SendAsync(request), HttpStatusCode.RequestEntityTooLarge, "request_too_large");

        // and the server still answers
        Assert.Equal(HttpStatusCode.OK, (await PostAsync("v1/chat/completions", Chat)).StatusCode);
    }

    [Fact]
    public async Task TooManyMessages_OrAStopStringTooLong_Is400NamingTheField()
    {
        var messages = string.Join(",", Enumerable.Repeat("""{"role":"user","content":"x"}""", 5000));
        var error = await ErrorOf(await PostAsync("v1/chat/completions", $$"""{"model":"fake","messages":[{{messages}}]}"""), HttpStatusCode.BadRequest, null);
        Assert.Equal("messages", error.GetProperty("param").GetString());

        var stop = new string('s', 300);
        error = await ErrorOf(await PostAsync("v1/chat/completions", $$"""{"model":"fake","messages":[{"role":"user","content":"hi"}],"stop":["{{stop}}"]}"""), HttpStatusCode.BadRequest, null);
        Assert.Equal("stop", error.GetProperty("param").GetString());
        error = await ErrorOf(await PostAsync("v1/completions", $$"""{"model":"fake","prompt":"hi","stop":"{{stop}}"}"""), HttpStatusCode.BadRequest, null);
        Assert.Equal("stop", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task PromptLongerThanContext_Is400ContextLengthExceeded()
    {
        var prompt = new string('a', 100);
        await ErrorOf(await PostAsync("v1/completions", $$"""{"model":"fake","prompt":"{{prompt}}"}"""), HttpStatusCode.BadRequest, "context_length_exceeded");
    }

    [Fact]
    public async Task AtCapacity_Is429WithRetryAfter()
    {
        _service.FailWith = new CapacityExceededException(TimeSpan.FromSeconds(3), "1 sessions running and 0 waiting");
        var response = await PostAsync("v1/chat/completions", Chat);
        await ErrorOf(response, HttpStatusCode.TooManyRequests, "rate_limit_exceeded");
        Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task StreamingRequest_AtCapacity_IsStill429()
    {
        _service.FailWith = new CapacityExceededException(TimeSpan.FromSeconds(1), "full");
        await ErrorOf(await PostAsync("v1/chat/completions", Chat[..^1] + ""","stream":true}"""), HttpStatusCode.TooManyRequests, "rate_limit_exceeded");
    }

    [Fact]
    public async Task RetryableFailure_BeforeTheStream_Is503WithRetryAfter_InOpenAisShape()
    {
        _service.FailWith = new TransientFailure("Stage 10.0.0.7:7001 failed and no replacement could be started.", TimeSpan.FromSeconds(2));
        var response = await PostAsync("v1/chat/completions", Chat[..^1] + ""","stream":true}""");
        var error = await ErrorOf(response, HttpStatusCode.ServiceUnavailable, "service_unavailable");
        Assert.Equal(TimeSpan.FromSeconds(2), response.Headers.RetryAfter?.Delta);
        var message = error.GetProperty("message").GetString();
        Assert.Contains("Send the same request again", message);
        Assert.Contains("being repaired", message);
        Assert.DoesNotContain("10.0.0.7", message); // the pool's addresses are not the client's business
    }

    [Fact]
    public async Task RetryableFailure_AfterTheStreamStarted_IsAnErrorEventInOpenAisShape()
    {
        _service.FailWith = new TransientFailure("Stage 10.0.0.7:7001 failed.", TimeSpan.FromSeconds(2));
        _service.FailAfterTokens = 2;
        var response = await PostAsync("v1/completions", """{"model":"fake","prompt":"x","stream":true}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("\"code\":\"service_unavailable\"", body);
        Assert.DoesNotContain("10.0.0.7", body);
        Assert.DoesNotContain("[DONE]", body);
    }

    [Fact]
    public async Task UnexpectedFailure_Is500WithoutDetails()
    {
        _service.FailWith = new InvalidCastException("secret internals");
        var error = await ErrorOf(await PostAsync("v1/chat/completions", Chat), HttpStatusCode.InternalServerError, null);
        Assert.DoesNotContain("secret", error.GetProperty("message").GetString());
        Assert.Equal("server_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task UnknownPath_Is404InOpenAiShape()
    {
        await ErrorOf(await _http.GetAsync("v1/embeddings"), HttpStatusCode.NotFound, null);
    }

    [Fact]
    public async Task NonStreamingChat_HasOpenAiShape_AndEndOfGenerationIsStop()
    {
        var response = await PostAsync("v1/chat/completions", Chat);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = doc.RootElement;
        Assert.Equal("chat.completion", root.GetProperty("object").GetString());
        Assert.StartsWith("chatcmpl-", root.GetProperty("id").GetString());
        var choice = root.GetProperty("choices")[0];
        Assert.Equal("Hello, world", choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(3, root.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(4, root.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(7, root.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task MaxTokens_EndsWithLength()
    {
        using var doc = JsonDocument.Parse(await (await PostAsync("v1/completions", """{"model":"fake","prompt":"x","max_tokens":2}""")).Content.ReadAsStringAsync());
        var choice = doc.RootElement.GetProperty("choices")[0];
        Assert.Equal("Hello,", choice.GetProperty("text").GetString());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal("text_completion", doc.RootElement.GetProperty("object").GetString());
    }

    [Fact]
    public async Task StopSplitAcrossTokens_IsCutInBothModes()
    {
        _service.Script = ["The end", ".\n", "\nUser", ": more", ""];
        const string request = """{"model":"fake","messages":[{"role":"user","content":"hi"}],"stop":["\n\nUser:"]""";
        using (var doc = JsonDocument.Parse(await (await PostAsync("v1/chat/completions", request + "}")).Content.ReadAsStringAsync()))
        {
            var choice = doc.RootElement.GetProperty("choices")[0];
            Assert.Equal("The end.", choice.GetProperty("message").GetProperty("content").GetString());
            Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        }
        var events = await StreamAsync("v1/chat/completions", request + ""","stream":true}""");
        var text = string.Concat(events.Select(e => e.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : "").FirstOrDefault()));
        Assert.Equal("The end.", text);
    }

    [Fact]
    public async Task StreamingChat_IsRoleChunk_ContentChunks_FinishChunk_UsageChunk_Done()
    {
        var response = await PostAsync("v1/chat/completions", Chat[..^1] + ""","stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var raw = await response.Content.ReadAsStringAsync();
        var data = ServerSentEvents.ParseData(raw).ToList();
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonDocument.Parse(d).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var finish = chunks[^2].GetProperty("choices")[0];
        Assert.Equal("stop", finish.GetProperty("finish_reason").GetString());
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.Equal(4, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.All(chunks[..^1], c => Assert.False(c.TryGetProperty("usage", out _)));
    }

    [Fact]
    public async Task ChatLogprobs_HaveTokenLogprobBytesAndAlternatives()
    {
        using var doc = JsonDocument.Parse(await (await PostAsync("v1/chat/completions", Chat[..^1] + ""","logprobs":true,"top_logprobs":2}""")).Content.ReadAsStringAsync());
        var content = doc.RootElement.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content");
        Assert.Equal(3, content.GetArrayLength()); // the end-of-generation token is not reported
        var first = content[0];
        Assert.Equal("Hello", first.GetProperty("token").GetString());
        Assert.Equal(-0.25f, first.GetProperty("logprob").GetSingle());
        Assert.Equal("Hello"u8.ToArray().Select(b => (int)b), first.GetProperty("bytes").EnumerateArray().Select(b => b.GetInt32()));
        var top = first.GetProperty("top_logprobs");
        Assert.Equal(2, top.GetArrayLength());
        Assert.Equal("t100", top[0].GetProperty("token").GetString());
    }

    [Fact]
    public async Task CompletionLogprobs_UseTheLegacyFormat()
    {
        using var doc = JsonDocument.Parse(await (await PostAsync("v1/completions", """{"model":"fake","prompt":"x","logprobs":1,"echo":true}""")).Content.ReadAsStringAsync());
        var choice = doc.RootElement.GetProperty("choices")[0];
        Assert.Equal("xHello, world", choice.GetProperty("text").GetString());
        var logprobs = choice.GetProperty("logprobs");
        Assert.Equal(["Hello", ",", " world"], logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal([1, 6, 7], logprobs.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()));
        Assert.Equal(3, logprobs.GetProperty("token_logprobs").GetArrayLength());
        Assert.Equal(-1f, logprobs.GetProperty("top_logprobs")[0].GetProperty("t100").GetSingle());
    }

    [Fact]
    public async Task SamplingFields_ReachTheService()
    {
        await PostAsync("v1/completions", """{"model":"fake","prompt":"x","temperature":0,"top_p":0.5,"seed":42,"max_tokens":3,"top_k":7,"min_p":0.2,"repetition_penalty":1.3,"presence_penalty":0.5,"frequency_penalty":-0.5}""");
        var options = _service.LastOptions!;
        Assert.Equal(3, options.MaxTokens);
        Assert.Equal(0f, options.Sampling.Temperature);
        Assert.Equal(0.5f, options.Sampling.TopP);
        Assert.Equal(42UL, options.Sampling.Seed);
        Assert.Equal(7, options.Sampling.TopK);
        Assert.Equal(0.2f, options.Sampling.MinP);
        Assert.Equal(1.3f, options.Sampling.RepetitionPenalty);
        Assert.Equal(0.5f, options.Sampling.PresencePenalty);
        Assert.Equal(-0.5f, options.Sampling.FrequencyPenalty);
    }

    [Fact]
    public async Task ClientDisconnectMidStream_CancelsGeneration()
    {
        _service.Script = Enumerable.Repeat("tok ", 500).ToArray();
        _service.TokenDelay = TimeSpan.FromMilliseconds(20);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = new StringContent(Chat[..^1] + ""","stream":true}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        using var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = _server.BaseAddress };
        var started = System.Diagnostics.Stopwatch.StartNew();
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        await stream.ReadExactlyAsync(new byte[64]);
        response.Dispose(); // closes the connection mid-stream
        var fired = await Task.WhenAny(_service.Cancelled.Task, Task.Delay(TimeSpan.FromSeconds(5)));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(8), $"took {started.Elapsed}");
        Assert.Same(_service.Cancelled.Task, fired);
    }

    private async Task<List<JsonElement>> StreamAsync(string path, string json)
    {
        var raw = await (await PostAsync(path, json)).Content.ReadAsStringAsync();
        var data = ServerSentEvents.ParseData(raw).ToList();
        Assert.Equal("[DONE]", data[^1]);
        return data[..^1].Select(d => JsonDocument.Parse(d).RootElement.Clone()).ToList();
    }
}
