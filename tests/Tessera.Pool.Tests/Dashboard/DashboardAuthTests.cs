using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Tessera.Pool.Agent;
using Tessera.Pool.Coordinator;
using Tessera.Pool.Dashboard;
using Tessera.Pool.Security;

namespace Tessera.Pool.Tests.Dashboard;

/// <summary>
/// The dashboard's sign-in against a real coordinator over HTTPS: what an anonymous visitor gets (nothing of the pool),
/// the cookie's flags, the CSRF token actions need, the end of sessions when the admin key is rotated, the throttle on
/// wrong keys, the assets' headers, and the event stream.
/// </summary>
public sealed class DashboardAuthTests : IAsyncLifetime
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-dashboard-");
    private CoordinatorHost _host = null!;
    private HttpClient _http = null!;
    private string _adminKey = null!;

    public async Task InitializeAsync()
    {
        _host = await CoordinatorHost.StartAsync(new CoordinatorOptions { DataDirectory = new PoolDataDirectory(_dir.FullName), Listen = "127.0.0.1:0" },
            NullLoggerFactory.Instance, TimeProvider.System, CancellationToken.None);
        var handler = CoordinatorChannel.Handler(_host.Context.Authority.Certificate, null, TimeProvider.System);
        handler.UseCookies = false;
        handler.AllowAutoRedirect = false;
        _http = new HttpClient(handler) { BaseAddress = new Uri("https://" + _host.Context.JoinAddress) };
        _adminKey = (await File.ReadAllTextAsync(_host.Context.AdminKeyPath)).Trim();
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
        _dir.Delete(recursive: true);
    }

    private Task<HttpResponseMessage> SignInAsync(string key) =>
        _http.PostAsync("/dashboard/login", new FormUrlEncodedContent([new("key", key)]));

    private async Task<string> CookieAsync()
    {
        using var response = await SignInAsync(_adminKey);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        return setCookie[..setCookie.IndexOf(';')];
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? cookie, string? csrf = null, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        if (cookie is not null)
            request.Headers.Add("Cookie", cookie);
        if (csrf is not null)
            request.Headers.Add(DashboardSessions.CsrfHeader, csrf);
        return await _http.SendAsync(request);
    }

    [Fact]
    public async Task AnAnonymousVisitor_IsSentToSignIn_AndGetsNoPoolData()
    {
        using var page = await _http.GetAsync("/dashboard");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.Equal("/dashboard/login", page.Headers.Location!.OriginalString);
        foreach (var path in new[] { "/api/nodes", "/api/session", "/api/events/stream", "/api/tokens" })
        {
            using var api = await _http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        }
        using var login = await _http.GetAsync("/dashboard/login");
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        Assert.DoesNotContain(_host.Context.PoolId, await login.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TheAdminKey_GivesAStrictHttpOnlySecureCookie_ActionsNeedItsCsrfToken_AndRotatingTheKeyEndsIt()
    {
        using (var wrong = await SignInAsync("tsa_wrong"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.False(wrong.Headers.Contains("Set-Cookie"));
            Assert.Contains("not the admin key", await wrong.Content.ReadAsStringAsync());
        }
        using (var right = await SignInAsync(_adminKey))
        {
            var flags = Assert.Single(right.Headers.GetValues("Set-Cookie")).ToLowerInvariant();
            Assert.Contains("httponly", flags);
            Assert.Contains("secure", flags);
            Assert.Contains("samesite=strict", flags);
            Assert.StartsWith(DashboardSessions.CookieName + "=", flags);
        }
        var cookie = await CookieAsync();

        using (var nodes = await SendAsync(HttpMethod.Get, "/api/nodes", cookie))
            Assert.Equal(HttpStatusCode.OK, nodes.StatusCode);
        using var session = await SendAsync(HttpMethod.Get, "/api/session", cookie);
        var csrf = (await session.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("csrf").GetString()!;

        var token = new { ttl = "1h", description = "from the dashboard" };
        using (var noToken = await SendAsync(HttpMethod.Post, "/api/tokens", cookie, null, token))
            Assert.Equal(HttpStatusCode.Forbidden, noToken.StatusCode);
        using (var badToken = await SendAsync(HttpMethod.Post, "/api/tokens", cookie, csrf + "x", token))
            Assert.Equal(HttpStatusCode.Forbidden, badToken.StatusCode);
        Assert.Empty(_host.Context.Store.ListTokens());
        using (var created = await SendAsync(HttpMethod.Post, "/api/tokens", cookie, csrf, token))
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Single(_host.Context.Store.ListTokens());

        _host.Context.RotateAdminKey();
        using var after = await SendAsync(HttpMethod.Get, "/api/nodes", cookie);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        Assert.Contains("sign in again", await after.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task WrongKeys_AreThrottled_AfterTheJoinThrottlesCount()
    {
        for (var i = 0; i < JoinThrottle.MaxFailures; i++)
        {
            using var wrong = await SignInAsync("tsa_wrong" + i);
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }
        using var throttled = await SignInAsync(_adminKey);
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.Contains("Too many wrong keys", await throttled.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Assets_AreServedFromTheExecutable_WithAStrictContentSecurityPolicy_AndNothingElse()
    {
        using var script = await _http.GetAsync("/dashboard/assets/app.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType!.MediaType);
        Assert.Contains("script-src 'self'", script.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("EventSource", await script.Content.ReadAsStringAsync());
        foreach (var missing in new[] { "/dashboard/assets/nothing.js", "/dashboard/assets/..%2Fpool.db" })
        {
            using var response = await _http.GetAsync(missing);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    [Fact]
    public async Task TheEventStream_SendsTheLogAsServerSentEvents_WithIds()
    {
        var cookie = await CookieAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/events/stream?after=0");
        request.Headers.Add("Cookie", cookie);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        _host.Context.Store.AddEvent(DateTimeOffset.UtcNow, "dashboard-test", null, "an event after the stream opened");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var lines = new List<string>();
        while (!lines.Any(l => l.StartsWith("data: ", StringComparison.Ordinal) && l.Contains("dashboard-test")))
            lines.Add(await reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException(string.Join('\n', lines)));
        var id = lines.Last(l => l.StartsWith("id: ", StringComparison.Ordinal));
        Assert.True(long.Parse(id[4..]) > 0);
        Assert.Contains("event: pool", lines);
    }
}
