using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Tessera.Api.Tests.Unit;
using Tessera.Testing;
using Xunit.Abstractions;

namespace Tessera.Api.Tests.Fuzz;

/// <summary>
/// The first inputs of <see cref="RequestParserFuzzTests"/>' sequence sent to a real server over HTTP: what the parser
/// returns must also come out of the handler as a 2xx answer or a 4xx in OpenAI's error shape, never a 500.
/// </summary>
public sealed class HttpFuzzTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Key = "tsk_fuzz-key";
    private readonly FakeGenerationService _service = new();
    private OpenAiServer _server = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _server = await OpenAiServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), _service, ApiKeyValidators.Single(Key), new OpenAiApiOptions());
        _http = new HttpClient { BaseAddress = _server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task MutatedBodies_OverHttp_AreAnsweredWith2xxOrAWellFormed4xx_AndTheServerStillServes()
    {
        var run = FuzzBudget.FromEnvironment(iterations: 300, TimeSpan.FromSeconds(20), RequestParserFuzzTests.Seed).Start();
        var statuses = new SortedDictionary<int, int>();
        foreach (var (index, rng) in run.Inputs())
        {
            var input = RequestFuzzer.Make(index, rng);
            using var content = new ByteArrayContent(input.Body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await _http.PostAsync(input.Path, content);
            var status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            try
            {
                if (status is >= 200 and < 300)
                    await AssertAnswerAsync(response);
                else
                {
                    Assert.InRange(status, 400, 499);
                    await OpenAiErrorShape.ReadAsync(response);
                }
            }
            catch (Exception e) when (e is Xunit.Sdk.XunitException or JsonException or KeyNotFoundException)
            {
                run.Fail(index, $"{status} for input {input.Preview()}\n{e.Message}");
            }
        }

        run.AssertNoFailures(output, "statuses " + string.Join(", ", statuses.Select(s => $"{s.Key}: {s.Value}")), minimum: 100);
        Assert.True(statuses.Keys.Any(s => s < 300) && statuses.Keys.Any(s => s >= 400), "the fuzzing reached one outcome only");
        var normal = await _http.PostAsync("v1/chat/completions", new StringContent("""{"model":"fake","messages":[{"role":"user","content":"hi"}]}""",
            System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, normal.StatusCode);
        using var answer = JsonDocument.Parse(await normal.Content.ReadAsStringAsync());
        Assert.Equal("Hello, world", answer.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    /// <summary>A 2xx is a whole answer: a JSON completion with a choice, or an event stream that ends with [DONE].</summary>
    private static async Task AssertAnswerAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType?.MediaType == "text/event-stream")
        {
            Assert.EndsWith("data: [DONE]\n\n", body);
            Assert.DoesNotContain("\"error\"", body);
            return;
        }
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(body);
        Assert.NotEqual(0, doc.RootElement.GetProperty("choices").GetArrayLength());
    }
}
