using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Tessera.Api.Tests.OpenApi;

/// <summary>
/// Compares the endpoints a host answers with the OpenAPI document it serves: every (method, path) must be an operation
/// of the document, unless an exclusion names it with its reason.
/// </summary>
internal static class OpenApiCoverage
{
    /// <summary>An endpoint left out of the document on purpose: which, and why (shown when the test fails).</summary>
    public sealed record Exclusion(string Reason, Func<RouteEndpoint, bool> Matches);

    /// <summary>"METHOD /path" of each endpoint that the document lacks and no exclusion names, sorted.</summary>
    public static IReadOnlyList<string> Missing(IEnumerable<Endpoint> endpoints, JsonElement document, IReadOnlyList<Exclusion> exclusions)
    {
        var paths = document.GetProperty("paths");
        var missing = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var endpoint in endpoints.OfType<RouteEndpoint>())
        {
            if (exclusions.Any(e => e.Matches(endpoint)))
                continue;
            var path = PathOf(endpoint.RoutePattern);
            // An endpoint for any method must be excluded by name: the document has no operation for "any method".
            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["(any method)"];
            foreach (var method in methods)
            {
                if (!paths.TryGetProperty(path, out var item) || !item.TryGetProperty(method.ToLowerInvariant(), out _))
                    missing.Add($"{method} {path}");
            }
        }
        return [.. missing];
    }

    /// <summary>The path as OpenAPI writes it: <c>/v1/models/{**id}</c> is <c>/v1/models/{id}</c>, constraints and defaults dropped.</summary>
    public static string PathOf(RoutePattern pattern)
    {
        var path = string.Concat(pattern.PathSegments.Select(segment => "/" + string.Concat(segment.Parts.Select(part => part switch
        {
            RoutePatternLiteralPart literal => literal.Content,
            RoutePatternParameterPart parameter => "{" + parameter.Name + "}",
            RoutePatternSeparatorPart separator => separator.Content,
            _ => throw new NotSupportedException(part.GetType().Name),
        }))));
        return path.Length == 0 ? "/" : path;
    }

    /// <summary>What Microsoft.OpenApi's reader, with its default rules, finds wrong in the document (a path parameter not declared, a dangling reference...).</summary>
    public static IReadOnlyList<string> Errors(string json)
    {
        var (_, diagnostic) = Microsoft.OpenApi.OpenApiDocument.Parse(json, "json");
        return [.. (diagnostic?.Errors ?? []).Select(e => $"{e.Pointer}: {e.Message}")];
    }

    public static string Describe(IReadOnlyList<string> missing, IReadOnlyList<Exclusion> exclusions) =>
        $"{missing.Count} endpoint(s) answered but missing from the OpenAPI document:\n  " + string.Join("\n  ", missing)
        + "\nLeft out on purpose:\n  " + string.Join("\n  ", exclusions.Select(e => e.Reason));
}
