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

    public Task<List<NodeView>> GetNodesAsync(CancellationToken ct) => GetAsync<List<NodeView>>("api/nodes", ct);

    public Task<NodeView> GetNodeAsync(string node, CancellationToken ct) => GetAsync<NodeView>($"api/nodes/{Uri.EscapeDataString(node)}", ct);

    public Task<List<DeviceView>> GetDevicesAsync(CancellationToken ct) => GetAsync<List<DeviceView>>("api/devices", ct);

    public Task<NodeView> DrainAsync(string node, CancellationToken ct) => SendAsync<NodeView>(HttpMethod.Post, $"api/nodes/{Uri.EscapeDataString(node)}/drain", null, ct);

    public Task<NodeView> RemoveAsync(string node, CancellationToken ct) => SendAsync<NodeView>(HttpMethod.Delete, $"api/nodes/{Uri.EscapeDataString(node)}", null, ct);

    public Task<List<TokenView>> GetTokensAsync(CancellationToken ct) => GetAsync<List<TokenView>>("api/tokens", ct);

    /// <summary>Creates a join token admitting at most <paramref name="uses"/> machines, giving each the <paramref name="labels"/>.</summary>
    public Task<CreatedTokenView> CreateTokenAsync(string ttl, string? description, CancellationToken ct, int uses = 1, IReadOnlyDictionary<string, string>? labels = null) =>
        SendAsync<CreatedTokenView>(HttpMethod.Post, "api/tokens", JsonContent.Create(new CreateTokenRequest(ttl, description, uses, labels), options: JsonSerializerOptions.Web), ct);

    public Task<TokenView> RevokeTokenAsync(string id, CancellationToken ct) => SendAsync<TokenView>(HttpMethod.Delete, $"api/tokens/{Uri.EscapeDataString(id)}", null, ct);

    public Task<List<EventView>> GetEventsAsync(long after, int limit, string? node, CancellationToken ct) =>
        GetAsync<List<EventView>>($"api/events?after={after}&limit={limit}" + (node is null ? string.Empty : "&node=" + Uri.EscapeDataString(node)), ct);

    public Task<List<ApiKeyView>> GetApiKeysAsync(CancellationToken ct) => GetAsync<List<ApiKeyView>>("api/keys", ct);

    public Task<CreatedApiKeyView> CreateApiKeyAsync(string? name, CancellationToken ct) => CreateApiKeyAsync(new CreateApiKeyRequest(name), ct);

    public Task<CreatedApiKeyView> CreateApiKeyAsync(CreateApiKeyRequest request, CancellationToken ct) =>
        SendAsync<CreatedApiKeyView>(HttpMethod.Post, "api/keys", JsonContent.Create(request, options: JsonSerializerOptions.Web), ct);

    public Task<ApiKeyView> RevokeApiKeyAsync(string id, CancellationToken ct) => SendAsync<ApiKeyView>(HttpMethod.Delete, $"api/keys/{Uri.EscapeDataString(id)}", null, ct);

    /// <summary>Replaces the admin key; this client keeps using the old one, which the coordinator now refuses.</summary>
    public Task<RotatedAdminKeyView> RotateAdminKeyAsync(CancellationToken ct) => SendAsync<RotatedAdminKeyView>(HttpMethod.Post, "api/admin-key/rotate", null, ct);

    /// <summary>The latest measurement of each link.</summary>
    public Task<List<LinkView>> GetLinksAsync(CancellationToken ct) => GetAsync<List<LinkView>>("api/links", ct);

    /// <summary>The links' latencies as the deployments' pipelines showed them (a coordinator without deployments: none).</summary>
    public Task<List<ObservedHopView>> GetObservedHopsAsync(CancellationToken ct) => GetAsync<List<ObservedHopView>>("api/links/observed", ct);

    /// <summary>Measures every link now (every pair of agents, and each agent from the coordinator) and waits for the results.</summary>
    public Task<LinkRoundView> MeasureLinksAsync(CancellationToken ct) => SendAsync<LinkRoundView>(HttpMethod.Post, "api/links/measure", null, ct);

    public Task<StatsView> GetStatsAsync(CancellationToken ct) => GetAsync<StatsView>("api/stats", ct);

    public Task<HealthView> GetHealthAsync(CancellationToken ct) => GetAsync<HealthView>("api/health", ct);

    private Task<T> GetAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Get, path, null, ct);

    /// <summary>
    /// Sends a request to the coordinator's API and reads its JSON answer. Failures become a <see cref="PoolException"/>
    /// with the coordinator's message and an exit code: 4 unreachable, 5 refused (admin key), 3 does not fit (422),
    /// 6 not found, 1 otherwise.
    /// </summary>
    public async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
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
            return await response.Content.ReadFromJsonAsync<T>(JsonSerializerOptions.Web, ct).ConfigureAwait(false)
                ?? throw new PoolException("The coordinator sent an empty answer.");
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
