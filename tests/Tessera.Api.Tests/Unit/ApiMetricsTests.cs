using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Tessera.Deploy;

namespace Tessera.Api.Tests.Unit;

/// <summary>The API's request counter names a deployment only when the server knows it: clients cannot make labels.</summary>
public sealed class ApiMetricsTests
{
    private const string Key = "tsk_metrics";

    [Fact]
    public async Task RequestCounter_NamesAKnownDeploymentThatCannotServe_ButNeverAModelNameTheServerDoesNotHave()
    {
        // Arrange: a router with one deployment that has no pipeline yet (503), and a listener on the API's meter.
        var resting = "resting-" + Guid.NewGuid().ToString("N");
        var unknown = "nobody-" + Guid.NewGuid().ToString("N");
        var router = new DeploymentRouter();
        router.Set(resting, []);
        var requests = new ConcurrentQueue<Dictionary<string, string>>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ApiMetrics.MeterName && instrument.Name == "tessera.requests")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
            requests.Enqueue(tags.ToArray().ToDictionary(t => t.Key, t => Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? "")));
        listener.Start();
        await using var server = await OpenAiServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), router, ApiKeyValidators.Single(Key));
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);

        // Act
        using var unavailable = await http.PostAsync("v1/chat/completions", Json($$"""{"model":"{{resting}}","messages":[{"role":"user","content":"hi"}]}"""));
        using var missing = await http.PostAsync("v1/completions", Json($$"""{"model":"{{unknown}}","prompt":"hi"}"""));

        // Assert
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unavailable.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var counted = Assert.Single(requests, r => r["deployment"] == resting);
        Assert.Equal(("chat", "503"), (counted["endpoint"], counted["status"]));
        Assert.DoesNotContain(requests, r => r["deployment"] == unknown);
        Assert.Contains(requests, r => r["deployment"] == "" && r["endpoint"] == "completions" && r["status"] == "404");
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
