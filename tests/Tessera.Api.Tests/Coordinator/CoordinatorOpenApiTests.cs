using System.Text.Json;
using Tessera.Api.Tests.OpenApi;
using Tessera.Pool;
using Tessera.Pool.Coordinator;

namespace Tessera.Api.Tests.Coordinator;

/// <summary>
/// The coordinator as `pool start` composes it (the pool's /api, deployments, plans, keys, /blobs, /v1 with the Batch API):
/// every endpoint it answers is in the OpenAPI document it serves, which is generated from those endpoints.
/// </summary>
public sealed class CoordinatorOpenApiTests : IAsyncLifetime
{
    private ComposedCoordinator _pool = null!;
    private JsonDocument _document = null!;
    private string _json = null!;

    /// <summary>What the document leaves out, and why; nothing else may be missing.</summary>
    private static readonly OpenApiCoverage.Exclusion[] Exclusions =
    [
        new($"{CoordinatorOpenApi.Path}: the document itself", e => e.RoutePattern.RawText == CoordinatorOpenApi.Path),
        new("the agents' gRPC service and gRPC's answers to unknown methods: not REST; Protos/pool.proto is their contract",
            e => e.DisplayName?.StartsWith("gRPC - ", StringComparison.Ordinal) == true),
        new("/v1/{**path}: not an operation but the 404 answer, in OpenAI's error shape, to any other path under /v1", e => e.RoutePattern.RawText == "/v1/{**path}"),
    ];

    public async Task InitializeAsync()
    {
        _pool = await ComposedCoordinator.StartAsync();
        using var http = _pool.Http(); // anonymous, as any client reads it
        _json = await http.GetStringAsync(CoordinatorOpenApi.Path.TrimStart('/'));
        _document = JsonDocument.Parse(_json);
    }

    public async Task DisposeAsync()
    {
        _document.Dispose();
        await _pool.DisposeAsync();
    }

    [Fact]
    public void EveryEndpointTheCoordinatorAnswers_IsInTheDocument()
    {
        var missing = OpenApiCoverage.Missing(_pool.Coordinator.Host.Endpoints, _document.RootElement, Exclusions);

        Assert.True(missing.Count == 0, OpenApiCoverage.Describe(missing, Exclusions));
        Assert.Empty(OpenApiCoverage.Errors(_json));
        // The ones the hand-written document had lost, and /v1, mapped by projects the pool knows nothing of.
        foreach (var path in new[] { "/api/deployments", "/api/keys", "/api/stats", "/api/plans", "/api/links/observed", "/v1/chat/completions", "/v1/batches" })
            Assert.True(_document.RootElement.GetProperty("paths").TryGetProperty(path, out _), path);
    }

    [Fact]
    public void AdminEndpoints_NeedTheAdminKey_V1NeedsAnApiKey_AndHealthNeitherInTheDocument()
    {
        var paths = _document.RootElement.GetProperty("paths");

        Assert.Equal([CoordinatorOpenApi.AdminKeyScheme], Schemes(paths.GetProperty("/api/nodes").GetProperty("get")));
        Assert.Equal([CoordinatorOpenApi.AdminKeyScheme], Schemes(paths.GetProperty("/api/deployments").GetProperty("post")));
        Assert.Equal([CoordinatorOpenApi.AdminKeyScheme], Schemes(paths.GetProperty("/api/keys/{id}").GetProperty("delete")));
        Assert.Equal([OpenAiApiEndpoints.ApiKeyScheme], Schemes(paths.GetProperty("/v1/models").GetProperty("get")));
        Assert.Empty(Schemes(paths.GetProperty("/api/health").GetProperty("get")));
        var schemes = _document.RootElement.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("bearer", schemes.GetProperty(CoordinatorOpenApi.AdminKeyScheme).GetProperty("scheme").GetString());
        Assert.Equal("bearer", schemes.GetProperty(OpenAiApiEndpoints.ApiKeyScheme).GetProperty("scheme").GetString());
        Assert.Equal(BuildVersion.Version, _document.RootElement.GetProperty("info").GetProperty("version").GetString());
    }

    private static string[] Schemes(JsonElement operation) => operation.TryGetProperty("security", out var security)
        ? [.. security.EnumerateArray().SelectMany(requirement => requirement.EnumerateObject().Select(p => p.Name))]
        : [];
}
