using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Tessera.Pool.Agent;

namespace Tessera.Pool.Client;

/// <summary>
/// Client of the coordinator's REST API, used by the CLI. It trusts only the pool CA (ca.crt in the
/// data directory) and authenticates with the admin key (admin.key in the data directory,
/// --admin-key, or $TESSERA_ADMIN_KEY).
/// </summary>
public sealed class PoolApiClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly X509Certificate2 _ca;

    private PoolApiClient(HttpClient http, X509Certificate2 ca, string baseUrl)
    {
        _http = http;
        _ca = ca;
        BaseUrl = baseUrl;
    }

    public string BaseUrl { get; }

    /// <param name="timeout">How long one call may take (15 s by default; a deployment waits longer).</param>
    public static PoolApiClient Create(PoolDataDirectory dir, string? coordinatorUrl, string? adminKey, TimeProvider time, TimeSpan? timeout = null)
    {
        var (url, http, ca) = CreateAdminHttpClient(dir, coordinatorUrl, adminKey, time, timeout ?? TimeSpan.FromSeconds(15));
        return new PoolApiClient(http, ca, url);
    }

    /// <summary>
    /// An HTTP client for the coordinator's admin API: finds its address (coordinator.json or
    /// <paramref name="coordinatorUrl"/>), the admin key (argument, $TESSERA_ADMIN_KEY or admin.key) and
    /// trusts only the pool CA in the data directory. Errors say which file is missing and what to do.
    /// </summary>
    public static (string Url, HttpClient Http, X509Certificate2 Ca) CreateAdminHttpClient(PoolDataDirectory dir, string? coordinatorUrl,
        string? adminKey, TimeProvider time, TimeSpan timeout)
    {
        var url = coordinatorUrl ?? CoordinatorInfo.TryLoad(dir.CoordinatorInfo)?.ApiUrl
            ?? throw new PoolException($"No coordinator is known in {dir.Root} (no coordinator.json). Start one with `tessera pool start`, or pass --coordinator https://HOST:PORT and --data-dir with the pool's ca.crt and admin.key.", exitCode: 2);
        if (!url.Contains("://", StringComparison.Ordinal))
            url = "https://" + url;
        var key = adminKey ?? Environment.GetEnvironmentVariable("TESSERA_ADMIN_KEY");
        if (string.IsNullOrWhiteSpace(key))
        {
            if (!File.Exists(dir.AdminKey))
                throw new PoolException($"No admin key: {dir.AdminKey} does not exist. Run this on the coordinator's machine, pass --data-dir with the pool's files, --admin-key, or set TESSERA_ADMIN_KEY.", exitCode: 2);
            key = File.ReadAllText(dir.AdminKey).Trim();
        }
        if (!File.Exists(dir.CaCertificate))
            throw new PoolException($"The pool CA certificate {dir.CaCertificate} is missing; the CLI needs it to trust the coordinator. Copy ca.crt from the coordinator's data directory.", exitCode: 2);
        using var pem = X509Certificate2.CreateFromPem(File.ReadAllText(dir.CaCertificate));
        var ca = X509CertificateLoader.LoadCertificate(pem.RawData);
        var http = new HttpClient(CoordinatorChannel.Handler(ca, null, time), disposeHandler: true)
        {
            BaseAddress = new Uri(url.TrimEnd('/') + "/"),
            Timeout = timeout,
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return (url, http, ca);
    }

    /// <summary>Every node, in join order: the pages of /api/nodes followed to the last.</summary>
    public Task<List<NodeView>> GetNodesAsync(CancellationToken ct) => GetAllAsync<NodeView>($"api/nodes?limit={Page<NodeView>.MaxLimit}", ct);

    /// <summary>One page of nodes: at most <paramref name="limit"/> after the node <paramref name="after"/> (from the first when null).</summary>
    public Task<Page<NodeView>> GetNodesPageAsync(string? after, int limit, CancellationToken ct) =>
        GetPageAsync<NodeView>($"api/nodes?limit={limit}" + (after is null ? string.Empty : "&after=" + Uri.EscapeDataString(after)), "after", ct);

    public Task<NodeView> GetNodeAsync(string node, CancellationToken ct) => GetAsync<NodeView>($"api/nodes/{Uri.EscapeDataString(node)}", ct);

    public Task<List<DeviceView>> GetDevicesAsync(CancellationToken ct) => GetAllAsync<DeviceView>($"api/devices?limit={Page<DeviceView>.MaxLimit}", ct);

    public Task<NodeView> DrainAsync(string node, CancellationToken ct) => SendAsync<NodeView>(HttpMethod.Post, $"api/nodes/{Uri.EscapeDataString(node)}/drain", null, ct);

    public Task<NodeView> RemoveAsync(string node, CancellationToken ct) => SendAsync<NodeView>(HttpMethod.Delete, $"api/nodes/{Uri.EscapeDataString(node)}", null, ct);

    public Task<List<TokenView>> GetTokensAsync(CancellationToken ct) => GetAsync<List<TokenView>>("api/tokens", ct);

    /// <summary>Creates a join token admitting at most <paramref name="uses"/> machines, giving each the <paramref name="labels"/>.</summary>
    public Task<CreatedTokenView> CreateTokenAsync(string ttl, string? description, CancellationToken ct, int uses = 1, IReadOnlyDictionary<string, string>? labels = null) =>
        SendAsync<CreatedTokenView>(HttpMethod.Post, "api/tokens", JsonContent.Create(new CreateTokenRequest(ttl, description, uses, labels), options: JsonSerializerOptions.Web), ct);

    public Task<TokenView> RevokeTokenAsync(string id, CancellationToken ct) => SendAsync<TokenView>(HttpMethod.Delete, $"api/tokens/{Uri.EscapeDataString(id)}", null, ct);

    /// <summary>One page of events, oldest first: at most <paramref name="limit"/> (up to 5,000) with ids above <paramref name="after"/>.</summary>
    public Task<List<EventView>> GetEventsAsync(long after, int limit, string? node, CancellationToken ct) =>
        GetAsync<List<EventView>>($"api/events?after={after}&limit={limit}" + NodeFilter(node), ct);

    /// <summary>
    /// The last <paramref name="count"/> events (of <paramref name="node"/> when given), oldest first: read from the end of
    /// the log page by page (newest first), so the cost is that of the events asked for, not of the whole log.
    /// </summary>
    public async Task<List<EventView>> GetLatestEventsAsync(int count, string? node, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var events = new List<EventView>(Math.Min(count, Page<EventView>.MaxEventLimit));
        string? path = $"api/events?order=desc&limit={Math.Min(count, Page<EventView>.MaxEventLimit)}" + NodeFilter(node);
        while (path is not null && events.Count < count)
        {
            var (page, next) = await ReceiveAsync<List<EventView>>(HttpMethod.Get, path, null, ct).ConfigureAwait(false);
            events.AddRange(page.Take(count - events.Count));
            path = NextPath(path, next);
        }
        events.Reverse();
        return events;
    }

    private static string NodeFilter(string? node) => node is null ? string.Empty : "&node=" + Uri.EscapeDataString(node);

    public Task<List<ApiKeyView>> GetApiKeysAsync(CancellationToken ct) => GetAsync<List<ApiKeyView>>("api/keys", ct);

    public Task<CreatedApiKeyView> CreateApiKeyAsync(string? name, CancellationToken ct) => CreateApiKeyAsync(new CreateApiKeyRequest(name), ct);

    public Task<CreatedApiKeyView> CreateApiKeyAsync(CreateApiKeyRequest request, CancellationToken ct) =>
        SendAsync<CreatedApiKeyView>(HttpMethod.Post, "api/keys", JsonContent.Create(request, options: JsonSerializerOptions.Web), ct);

    public Task<ApiKeyView> RevokeApiKeyAsync(string id, CancellationToken ct) => SendAsync<ApiKeyView>(HttpMethod.Delete, $"api/keys/{Uri.EscapeDataString(id)}", null, ct);

    /// <summary>Replaces the admin key; this client keeps using the old one, which the coordinator now refuses.</summary>
    public Task<RotatedAdminKeyView> RotateAdminKeyAsync(CancellationToken ct) => SendAsync<RotatedAdminKeyView>(HttpMethod.Post, "api/admin-key/rotate", null, ct);

    /// <summary>The latest measurement of each link.</summary>
    public Task<List<LinkView>> GetLinksAsync(CancellationToken ct) => GetAllAsync<LinkView>($"api/links?limit={Page<LinkView>.MaxLimit}", ct);

    /// <summary>The links' latencies as the deployments' pipelines showed them (a coordinator without deployments: none).</summary>
    public Task<List<ObservedHopView>> GetObservedHopsAsync(CancellationToken ct) => GetAsync<List<ObservedHopView>>("api/links/observed", ct);

    /// <summary>Measures every link now (every pair of agents, and each agent from the coordinator) and waits for the results.</summary>
    public Task<LinkRoundView> MeasureLinksAsync(CancellationToken ct) => SendAsync<LinkRoundView>(HttpMethod.Post, "api/links/measure", null, ct);

    public Task<StatsView> GetStatsAsync(CancellationToken ct) => GetAsync<StatsView>("api/stats", ct);

    public Task<HealthView> GetHealthAsync(CancellationToken ct) => GetAsync<HealthView>("api/health", ct);

    private Task<T> GetAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Get, path, null, ct);

    /// <summary>Every item of a paged list: its pages followed through their Link headers to the last.</summary>
    private async Task<List<T>> GetAllAsync<T>(string path, CancellationToken ct)
    {
        var all = new List<T>();
        for (string? next = path; next is not null;)
        {
            var (page, link) = await ReceiveAsync<List<T>>(HttpMethod.Get, next, null, ct).ConfigureAwait(false);
            all.AddRange(page);
            next = NextPath(next, link);
        }
        return all;
    }

    private async Task<Page<T>> GetPageAsync<T>(string path, string cursorParameter, CancellationToken ct)
    {
        var (items, link) = await ReceiveAsync<List<T>>(HttpMethod.Get, path, null, ct).ConfigureAwait(false);
        var next = link is null ? null : System.Web.HttpUtility.ParseQueryString(new Uri(new Uri("https://coordinator/"), link).Query)[cursorParameter];
        return new Page<T>(items, next);
    }

    /// <summary>
    /// The next page's path from a Link target, or null on the last page. A target that does not move on from the page
    /// just read would loop for ever: that is the coordinator's fault, reported as such.
    /// </summary>
    private static string? NextPath(string current, string? link)
    {
        if (link is null)
            return null;
        var next = link.TrimStart('/');
        if (next == current.TrimStart('/'))
            throw new PoolException($"The coordinator's next page of {current} is the same page; stopped instead of reading it for ever.");
        return next;
    }

    /// <summary>The target of the header <c>Link: &lt;URL&gt;; rel="next"</c>, or null.</summary>
    internal static string? NextLink(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var values))
            return null;
        foreach (var value in values)
        {
            foreach (var part in value.Split(','))
            {
                var close = part.IndexOf('>', StringComparison.Ordinal);
                var open = part.IndexOf('<', StringComparison.Ordinal);
                if (open >= 0 && close > open && part[(close + 1)..].Replace(" ", string.Empty, StringComparison.Ordinal).Contains("rel=\"next\"", StringComparison.OrdinalIgnoreCase))
                    return part[(open + 1)..close];
            }
        }
        return null;
    }

    /// <summary>
    /// Sends a request to the coordinator's API and reads its JSON answer. Failures become a <see cref="PoolException"/>
    /// with the coordinator's message and an exit code: 4 unreachable, 5 refused (admin key), 3 does not fit (422),
    /// 6 not found, 1 otherwise.
    /// </summary>
    public async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, CancellationToken ct) =>
        (await ReceiveAsync<T>(method, path, content, ct).ConfigureAwait(false)).Value;

    /// <summary><see cref="SendAsync{T}"/>, with the target of the answer's next-page link (null when none).</summary>
    private async Task<(T Value, string? Next)> ReceiveAsync<T>(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new PoolException($"Cannot reach the coordinator at {BaseUrl}: {ex.InnerException?.Message ?? ex.Message}. Is `tessera pool start` running?", exitCode: 4, inner: ex);
        }
        catch (TaskCanceledException ex) when (!ct.IsCancellationRequested)
        {
            throw new PoolException($"The coordinator at {BaseUrl} did not answer in time.", exitCode: 4, inner: ex);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var error = await TryReadErrorAsync(response, ct).ConfigureAwait(false);
                var code = response.StatusCode switch
                {
                    HttpStatusCode.Unauthorized => 5,
                    HttpStatusCode.UnprocessableEntity => 3,
                    HttpStatusCode.NotFound => 6,
                    _ => 1,
                };
                throw new PoolException(error ?? $"The coordinator answered {(int)response.StatusCode} {response.ReasonPhrase}.", exitCode: code);
            }
            var value = await response.Content.ReadFromJsonAsync<T>(JsonSerializerOptions.Web, ct).ConfigureAwait(false)
                ?? throw new PoolException("The coordinator sent an empty answer.");
            return (value, NextLink(response));
        }
    }

    private static async Task<string?> TryReadErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            return (await response.Content.ReadFromJsonAsync<ErrorView>(JsonSerializerOptions.Web, ct).ConfigureAwait(false))?.Error;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _ca.Dispose();
    }
}
