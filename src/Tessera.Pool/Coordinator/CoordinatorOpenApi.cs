using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// The coordinator's OpenAPI document, generated from its endpoints when asked for (Microsoft.AspNetCore.OpenApi), so an
/// endpoint is in it because it exists: whatever maps onto the coordinator's host (the pool's /api, deployments, keys,
/// /v1) is described with no list to keep. Served without a key at <see cref="Path"/>.
/// </summary>
public static class CoordinatorOpenApi
{
    public const string Path = "/api/openapi.json";

    /// <summary>The security scheme of the endpoints behind <see cref="RequireAdminKey"/>.</summary>
    public const string AdminKeyScheme = "adminKey";

    /// <summary>Registers the document's generator: its title, the admin key's scheme and which operations need it.</summary>
    public static IServiceCollection AddCoordinatorOpenApi(this IServiceCollection services) => services.AddOpenApi(options =>
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Tessera pool API",
                Version = BuildVersion.Version,
                Description = "Control plane of a Tessera pool (nodes, devices, join tokens, events, links, deployments, plans, API keys) and its "
                    + "OpenAI-compatible API under /v1. Admin endpoints need 'Authorization: Bearer <admin key>' (the key is in admin.key in the "
                    + "coordinator's data directory); /v1 needs an API key from `tessera key create`.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[AdminKeyScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "The pool's admin key, from admin.key in the coordinator's data directory.",
            };
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<AdminKeyRequired>().Any())
            {
                operation.Security ??= [];
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(AdminKeyScheme, context.Document)] = [] });
                operation.Responses ??= [];
                operation.Responses.TryAdd("401", new OpenApiResponse { Description = "No admin key, or a wrong one" });
            }
            return Task.CompletedTask;
        });
    });

    /// <summary>Serves the document at <see cref="Path"/>.</summary>
    public static IEndpointConventionBuilder MapCoordinatorOpenApi(this IEndpointRouteBuilder endpoints) => endpoints.MapOpenApi(Path);

    /// <summary>
    /// Lets the group's requests through only with the pool's admin key (<see cref="AdminKeyFilter"/>), and marks its
    /// endpoints so the OpenAPI document says so. Every admin endpoint is mapped behind this, never behind the filter alone.
    /// </summary>
    public static RouteGroupBuilder RequireAdminKey(this RouteGroupBuilder group, CoordinatorContext pool)
    {
        group.AddEndpointFilter(new AdminKeyFilter(pool));
        return group.WithMetadata(AdminKeyRequired.Instance);
    }

    /// <summary>Endpoint metadata: the endpoint is behind <see cref="AdminKeyFilter"/>.</summary>
    private sealed class AdminKeyRequired
    {
        public static readonly AdminKeyRequired Instance = new();
    }
}
