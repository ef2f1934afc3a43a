using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Tessera.Deploy;
using Tessera.Pool;
using Tessera.Pool.Client;

namespace Tessera.Cli.Commands;

/// <summary>The CLI's client of <c>/api/deployments</c>: trusts only the pool CA and sends the admin key, like the pool commands.</summary>
internal sealed class DeployClient : IDisposable
{
    private readonly HttpClient _http;

    private DeployClient(HttpClient http, string baseUrl, PoolDataDirectory dir)
    {
        _http = http;
        BaseUrl = baseUrl;
        Directory = dir;
    }

    public string BaseUrl { get; }

    public PoolDataDirectory Directory { get; }

    public static DeployClient Create(PoolDataDirectory dir, string? coordinatorUrl, string? adminKey, TimeSpan? timeout = null)
    {
        var (url, http, _) = PoolApiClient.CreateAdminHttpClient(dir, coordinatorUrl, adminKey, TimeProvider.System, timeout ?? TimeSpan.FromMinutes(30));
        return new DeployClient(http, url.TrimEnd('/'), dir);
    }

    /// <summary>Adds --data-dir, --coordinator and --admin-key; returns a factory of clients.</summary>
    public static Func<ParseResult, DeployClient> AddOptions(Command command)
    {
        var dataDir = PoolCli.DataDirOption();
        var coordinator = PoolCli.CoordinatorOption();
        var adminKey = PoolCli.AdminKeyOption();
        command.Options.Add(dataDir);
        command.Options.Add(coordinator);
        command.Options.Add(adminKey);
        return result => Create(new PoolDataDirectory(result.GetValue(dataDir)), result.GetValue(coordinator), result.GetValue(adminKey));
    }

    public Task<DeploymentView> CreateAsync(DeploymentRequest request, CancellationToken ct) =>
        SendAsync<DeploymentView>(HttpMethod.Post, "api/deployments", JsonContent.Create(request, options: JsonSerializerOptions.Web), ct);

    public Task<List<DeploymentView>> ListAsync(CancellationToken ct) => SendAsync<List<DeploymentView>>(HttpMethod.Get, "api/deployments", null, ct);

    public Task<DeploymentView> GetAsync(string name, CancellationToken ct) =>
        SendAsync<DeploymentView>(HttpMethod.Get, $"api/deployments/{Uri.EscapeDataString(name)}", null, ct);

    public Task<DeploymentView> DeleteAsync(string name, CancellationToken ct) =>
        SendAsync<DeploymentView>(HttpMethod.Delete, $"api/deployments/{Uri.EscapeDataString(name)}", null, ct);

    public Task<CreatedApiKeyView> CreateApiKeyAsync(string? name, CancellationToken ct) =>
        SendAsync<CreatedApiKeyView>(HttpMethod.Post, "api/keys", JsonContent.Create(new CreateApiKeyRequest(name), options: JsonSerializerOptions.Web), ct);

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
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
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                string? error = null;
                try
                {
                    error = (await response.Content.ReadFromJsonAsync<ErrorView>(JsonSerializerOptions.Web, ct).ConfigureAwait(false))?.Error;
                }
                catch (JsonException)
                {
                }
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

    public void Dispose() => _http.Dispose();
}
