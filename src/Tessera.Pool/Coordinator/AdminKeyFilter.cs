using Microsoft.AspNetCore.Http;
using Tessera.Identity;
using Tessera.Pool.Client;
using Tessera.Pool.Dashboard;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// Lets a request through only with the pool's admin key (<c>Authorization: Bearer KEY</c>): every /api endpoint
/// but health, the CA and the OpenAPI document, and whatever else the coordinator's host maps for administrators
/// (deployments, API keys); or a browser signed in to the dashboard. A <see cref="PoolException"/> thrown behind it
/// becomes a 400 with its message. Groups take it through <see cref="CoordinatorOpenApi.RequireAdminKey"/>, which also
/// says so in the OpenAPI document.
/// </summary>
public sealed class AdminKeyFilter(CoordinatorContext pool) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (Refusal(context.HttpContext) is { } refused)
            return refused;
        try
        {
            return await next(context).ConfigureAwait(false);
        }
        catch (PoolException ex)
        {
            return Results.BadRequest(new ErrorView(ex.Message));
        }
    }

    /// <summary>
    /// Why <paramref name="http"/> may not pass, or null: the admin key as a Bearer token, or the dashboard's session
    /// cookie, which for anything but a read also needs the session's CSRF token in <see cref="DashboardSessions.CsrfHeader"/>
    /// (a page of another site can make the browser send the cookie, but cannot read the token to send it).
    /// </summary>
    private IResult? Refusal(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (header.Length == 0 && http.Request.Cookies[DashboardSessions.CookieName] is { } cookie)
        {
            if (pool.Dashboard.Find(cookie) is not { } session)
                return Results.Json(new ErrorView("The dashboard session ended: sign in again at /dashboard/login."), statusCode: 401);
            if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method)
                && !DashboardSessions.CsrfMatches(session, http.Request.Headers[DashboardSessions.CsrfHeader].ToString()))
                return Results.Json(new ErrorView($"This action needs the dashboard's CSRF token in {DashboardSessions.CsrfHeader}; reload the dashboard."), statusCode: 403);
            return null;
        }
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return Results.Json(new ErrorView("This endpoint needs the admin key: send 'Authorization: Bearer KEY' with the key in admin.key in the coordinator's data directory."), statusCode: 401);
        if (!Secrets.Matches(header[scheme.Length..].Trim(), pool.AdminKeyHash))
            return Results.Json(new ErrorView("The admin key is wrong. Use the key in admin.key in the coordinator's data directory."), statusCode: 401);
        return null;
    }
}
