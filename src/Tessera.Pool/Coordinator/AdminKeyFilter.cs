using Microsoft.AspNetCore.Http;
using Tessera.Identity;
using Tessera.Pool.Client;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// Lets a request through only with the pool's admin key (<c>Authorization: Bearer KEY</c>): every /api endpoint
/// but health, the CA and the OpenAPI document, and whatever else the coordinator's host maps for administrators
/// (deployments, API keys). A <see cref="PoolException"/> thrown behind it becomes a 400 with its message. Groups take it
/// through <see cref="CoordinatorOpenApi.RequireAdminKey"/>, which also says so in the OpenAPI document.
/// </summary>
public sealed class AdminKeyFilter(CoordinatorContext pool) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var header = context.HttpContext.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return Results.Json(new ErrorView("This endpoint needs the admin key: send 'Authorization: Bearer KEY' with the key in admin.key in the coordinator's data directory."), statusCode: 401);
        if (!Secrets.Matches(header[scheme.Length..].Trim(), pool.AdminKeyHash))
            return Results.Json(new ErrorView("The admin key is wrong. Use the key in admin.key in the coordinator's data directory."), statusCode: 401);
        try
        {
            return await next(context).ConfigureAwait(false);
        }
        catch (PoolException ex)
        {
            return Results.BadRequest(new ErrorView(ex.Message));
        }
    }
}
