using System.Net;
using System.Text.Json;
using Tessera.Api.Batches;
using Tessera.Api.Tests.Unit;
using Tessera.Cli.Hosting;
using Tessera.Distribution;

namespace Tessera.Api.Tests.OpenApi;

/// <summary>The OpenAPI document of <c>tessera serve</c>'s server, generated from its endpoints.</summary>
public sealed class ServeOpenApiTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tessera-serve-openapi-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task EveryEndpointOfServe_IsInItsOpenApiDocument_WithTheApiKeyScheme()
    {
        // arrange: the server as `tessera serve` starts it, with the Batch API
        await using var server = await OpenAiServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), new FakeGenerationService(), ApiKeyValidators.Single("tsk_test"),
            new OpenAiApiOptions { Batches = new BatchOptions { Directory = _directory, Files = new ContentStoreBatchFiles(new ContentStore(Path.Combine(_directory, "content"))) } });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        // act: the document, asked for without a key
        var json = await http.GetStringAsync(OpenAiServer.OpenApiPath);
        using var document = JsonDocument.Parse(json);

        // assert
        OpenApiCoverage.Exclusion[] exclusions =
        [
            new($"{OpenAiServer.OpenApiPath}: the document itself", e => e.RoutePattern.RawText == OpenAiServer.OpenApiPath),
            new("/v1/{**path}: not an operation but the 404 answer, in OpenAI's error shape, to any other path under /v1", e => e.RoutePattern.RawText == "/v1/{**path}"),
        ];
        var missing = OpenApiCoverage.Missing(server.Endpoints, document.RootElement, exclusions);
        Assert.True(missing.Count == 0, OpenApiCoverage.Describe(missing, exclusions));
        Assert.Empty(OpenApiCoverage.Errors(json));
        var cancel = document.RootElement.GetProperty("paths").GetProperty("/v1/batches/{id}/cancel").GetProperty("post");
        Assert.Equal("id", cancel.GetProperty("parameters")[0].GetProperty("name").GetString());
        var chat = document.RootElement.GetProperty("paths").GetProperty("/v1/chat/completions").GetProperty("post");
        Assert.True(chat.GetProperty("security")[0].TryGetProperty(OpenAiApiEndpoints.ApiKeyScheme, out _));
        Assert.Equal("bearer", document.RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty(OpenAiApiEndpoints.ApiKeyScheme).GetProperty("scheme").GetString());
        Assert.True(chat.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
    }
}
