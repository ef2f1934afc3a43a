using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Tessera.Api.Tests.Unit;

/// <summary>A full server refuses work before it spends CPU or memory on it: 429 before tokenizing, and before reading bodies.</summary>
public sealed class AdmissionTests
{
    private const string Key = "tsk_test-key";

    private static async Task<(OpenAiServer Server, HttpClient Http)> StartAsync(FakeGenerationService service, OpenAiApiOptions? options = null)
    {
        var server = await OpenAiServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), service, ApiKeyValidators.Single(Key), options ?? new OpenAiApiOptions());
        var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        return (server, http);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task ModelWithoutRoom_Is429_WithoutRenderingOrTokenizingThePrompt()
    {
        var service = new FakeGenerationService { Full = true };
        var (server, http) = await StartAsync(service);
        await using var _ = server;
        using var __ = http;

        var chat = await http.PostAsync("v1/chat/completions", Json("""{"model":"fake","messages":[{"role":"user","content":"hi"}]}"""));
        var completion = await http.PostAsync("v1/completions", Json("""{"model":"fake","prompt":"hello"}"""));
        foreach (var response in new[] { chat, completion })
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter?.Delta);
            Assert.Contains("rate_limit_exceeded", await response.Content.ReadAsStringAsync());
        }
        Assert.Equal(0, service.Tokenized);

        service.Full = false;
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("v1/completions", Json("""{"model":"fake","prompt":"hello"}"""))).StatusCode);
        Assert.Equal(1, service.Tokenized);
    }

    [Fact]
    public async Task RequestsBeyondThoseBeingRead_Are429BeforeTheirBodyIsRead_AndTheSlotComesBack()
    {
        var service = new FakeGenerationService();
        var (server, http) = await StartAsync(service, new OpenAiApiOptions { MaxPreparingRequests = 1 });
        await using var _ = server;
        using var __ = http;

        // A client that sends half a body and stalls holds the one slot.
        var stalled = new StalledContent("{\"model\":\"fake\",\"prompt\":", "\"hello\"}");
        var first = http.PostAsync("v1/completions", stalled);
        await stalled.HalfSent.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(200); // let the server start reading it

        var second = await http.PostAsync("v1/completions", Json("""{"model":"fake","prompt":"hello"}"""));
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Contains("reading 1 requests", await second.Content.ReadAsStringAsync());

        stalled.Release.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("v1/completions", Json("""{"model":"fake","prompt":"hello"}"""))).StatusCode);
    }

    private sealed class StalledContent(string head, string tail) : HttpContent
    {
        public TaskCompletionSource HalfSent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(head));
            await stream.FlushAsync();
            HalfSent.TrySetResult();
            await Release.Task;
            await stream.WriteAsync(Encoding.UTF8.GetBytes(tail));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = Encoding.UTF8.GetByteCount(head + tail);
            Headers.ContentType = new MediaTypeHeaderValue("application/json");
            return true;
        }
    }
}
