using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Tessera.Api.Tests.OpenApi;

/// <summary>The comparison the OpenAPI tests of the coordinator and of <c>tessera serve</c> rely on.</summary>
public sealed class OpenApiCoverageTests
{
    private static readonly JsonElement Document = JsonDocument.Parse("""
        { "paths": { "/api/nodes": { "get": {} }, "/api/nodes/{node}": { "get": {}, "delete": {} }, "/v1/models/{id}": { "get": {} } } }
        """).RootElement;

    [Fact]
    public void AnEndpointTheDocumentLacks_IsReportedWithItsMethodAndPath()
    {
        Endpoint[] endpoints =
        [
            Route("/api/nodes", "GET"), Route("/api/nodes/{node}", "GET", "DELETE"), Route("/v1/models/{**id}", "GET"),
            Route("/api/nodes/{node}/drain", "POST"), Route("/api/nodes", "POST"),
        ];

        var missing = OpenApiCoverage.Missing(endpoints, Document, []);

        Assert.Equal(["POST /api/nodes", "POST /api/nodes/{node}/drain"], missing);
    }

    [Fact]
    public void AnEndpointForAnyMethod_IsReportedUnlessAnExclusionNamesIt()
    {
        Endpoint[] endpoints = [Route("/v1/{**path}")];
        OpenApiCoverage.Exclusion[] notFound = [new("the 404 answer", e => e.RoutePattern.RawText == "/v1/{**path}")];

        Assert.Equal(["(any method) /v1/{path}"], OpenApiCoverage.Missing(endpoints, Document, []));
        Assert.Empty(OpenApiCoverage.Missing(endpoints, Document, notFound));
    }

    [Theory]
    [InlineData("/api/nodes/{node:minlength(1)}", "/api/nodes/{node}")]
    [InlineData("/blobs/{sha256}/manifest", "/blobs/{sha256}/manifest")]
    [InlineData("/v1/models/{**id}", "/v1/models/{id}")]
    [InlineData("/files/{name}.{ext?}", "/files/{name}.{ext}")]
    [InlineData("", "/")]
    public void RoutePattern_IsWrittenAsAnOpenApiPath(string pattern, string path)
    {
        Assert.Equal(path, OpenApiCoverage.PathOf(RoutePatternFactory.Parse(pattern)));
    }

    [Fact]
    public void ADocumentThatIsNotOpenApi_HasErrors()
    {
        Assert.NotEmpty(OpenApiCoverage.Errors("""{ "openapi": "3.1.1", "paths": { "/x": { "get": { "responses": "none" } } } }"""));
        Assert.Empty(OpenApiCoverage.Errors("""{ "openapi": "3.1.1", "info": { "title": "t", "version": "1" }, "paths": { "/x": { "get": { "responses": { "200": { "description": "OK" } } } } } }"""));
    }

    private static RouteEndpoint Route(string pattern, params string[] methods) =>
        new(_ => Task.CompletedTask, RoutePatternFactory.Parse(pattern), 0,
            methods.Length == 0 ? EndpointMetadataCollection.Empty : new EndpointMetadataCollection(new HttpMethodMetadata(methods)), pattern);
}
