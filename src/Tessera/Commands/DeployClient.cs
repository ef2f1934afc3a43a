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
    private readonly PoolApiClient _api;

    private DeployClient(PoolApiClient api, PoolDataDirectory dir)
    {
        _api = api;
        Directory = dir;
    }

    public string BaseUrl => _api.BaseUrl.TrimEnd('/');

    public PoolDataDirectory Directory { get; }

    /// <summary>The pool's admin API on the same connection (nodes, events, stats).</summary>
    public PoolApiClient Pool => _api;

    public static DeployClient Create(PoolDataDirectory dir, string? coordinatorUrl, string? adminKey, TimeSpan? timeout = null) =>
        new(PoolApiClient.Create(dir, coordinatorUrl, adminKey, TimeProvider.System, timeout ?? TimeSpan.FromMinutes(30)), dir);

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
        _api.SendAsync<DeploymentView>(HttpMethod.Post, "api/deployments", JsonContent.Create(request, options: JsonSerializerOptions.Web), ct);

    /// <summary>POST /api/plans: the plan <paramref name="request"/> would get, nothing started.</summary>
    public Task<PlanView> PlanAsync(DeploymentRequest request, PlanQuery query, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToNode(request, JsonSerializerOptions.Web)!.AsObject();
        foreach (var (key, value) in JsonSerializer.SerializeToNode(query, JsonSerializerOptions.Web)!.AsObject().ToList())
            body[key] = value?.DeepClone();
        return _api.SendAsync<PlanView>(HttpMethod.Post, "api/plans", JsonContent.Create(body, options: JsonSerializerOptions.Web), ct);
    }

    public Task<List<DeploymentView>> ListAsync(CancellationToken ct) => _api.SendAsync<List<DeploymentView>>(HttpMethod.Get, "api/deployments", null, ct);

    public Task<DeploymentView> GetAsync(string name, CancellationToken ct) =>
        _api.SendAsync<DeploymentView>(HttpMethod.Get, $"api/deployments/{Uri.EscapeDataString(name)}", null, ct);

    public Task<DeploymentView> DeleteAsync(string name, CancellationToken ct) =>
        _api.SendAsync<DeploymentView>(HttpMethod.Delete, $"api/deployments/{Uri.EscapeDataString(name)}", null, ct);

    public Task<CreatedApiKeyView> CreateApiKeyAsync(string? name, CancellationToken ct) => _api.CreateApiKeyAsync(name, ct);

    public void Dispose() => _api.Dispose();
}
