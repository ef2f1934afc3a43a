using System.Net;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Tessera.Identity;
using Tessera.Pool.Client;
using Tessera.Pool.Coordinator;
using Tessera.Pool.Security;

namespace Tessera.Pool.Dashboard;

/// <summary>
/// The dashboard's pages and its sign-in: <c>/dashboard</c> (the page, for a signed-in browser), <c>/dashboard/login</c>
/// (the admin key for a session cookie), <c>/dashboard/logout</c>, its static assets (built into the executable: no
/// CDN, works offline), and <c>/api/events/stream</c>, the event log as server-sent events. The page reads and acts
/// through the admin API, which takes the session cookie (with the CSRF token for actions) as it takes the admin key.
/// </summary>
public static class DashboardEndpoints
{
    private const string ResourcePrefix = "dashboard/";

    /// <summary>Scripts and styles only from this coordinator; no inline script, no frames.</summary>
    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

    private static readonly Assembly Assets = typeof(DashboardEndpoints).Assembly;

    /// <summary>The built-in files' texts by name, read from the assembly once.</summary>
    private static readonly Dictionary<string, string> Texts = Assets.GetManifestResourceNames()
        .Where(name => name.StartsWith(ResourcePrefix, StringComparison.Ordinal))
        .ToDictionary(name => name[ResourcePrefix.Length..], ReadResource, StringComparer.Ordinal);

    public static void Map(IEndpointRouteBuilder app, CoordinatorContext pool)
    {
        var throttle = new JoinThrottle(pool.Time);
        app.MapGet("/dashboard", (HttpContext http) =>
            pool.Dashboard.Find(http.Request.Cookies[DashboardSessions.CookieName]) is null
                ? Results.Redirect("/dashboard/login", permanent: false)
                : Asset(http, "index.html"));
        app.MapGet("/dashboard/login", (HttpContext http) => Asset(http, "login.html"));
        app.MapPost("/dashboard/login", async (HttpContext http) =>
        {
            var address = http.Connection.RemoteIpAddress?.ToString() ?? string.Empty;
            if (throttle.RetryAfter(address) is { } wait)
                return LoginFailed(http, 429, $"Too many wrong keys from {address}; try again in {Math.Ceiling(wait.TotalSeconds)} s.");
            if (!http.Request.HasFormContentType)
                return LoginFailed(http, 400, "Sign in with the form.");
            var form = await http.Request.ReadFormAsync(http.RequestAborted).ConfigureAwait(false);
            var key = form["key"].ToString().Trim();
            if (key.Length == 0 || key.Length > 256 || !Secrets.Matches(key, pool.AdminKeyHash))
            {
                throttle.Failed(address);
                return LoginFailed(http, 401, "That is not the admin key. It is in admin.key in the coordinator's data directory (`cat DATA_DIR/admin.key`).");
            }
            var (id, _) = pool.Dashboard.Create();
            http.Response.Cookies.Append(DashboardSessions.CookieName, id, new CookieOptions
            {
                HttpOnly = true,
                Secure = true,
                SameSite = SameSiteMode.Strict,
                Path = "/",
                MaxAge = DashboardSessions.IdleLifetime,
            });
            return Results.Redirect("/dashboard", permanent: false);
        });
        app.MapPost("/dashboard/logout", (HttpContext http) =>
        {
            var cookie = http.Request.Cookies[DashboardSessions.CookieName];
            if (pool.Dashboard.Find(cookie) is { } session && DashboardSessions.CsrfMatches(session, http.Request.Headers[DashboardSessions.CsrfHeader].ToString()))
                pool.Dashboard.End(cookie);
            http.Response.Cookies.Delete(DashboardSessions.CookieName, new CookieOptions { Path = "/", Secure = true, HttpOnly = true, SameSite = SameSiteMode.Strict });
            return Results.NoContent();
        });
        app.MapGet("/dashboard/assets/{file}", (HttpContext http, string file) => Asset(http, file));

        var admin = app.MapGroup("/api").WithTags("Dashboard").RequireAdminKey(pool);
        // The page's CSRF token: readable only with the cookie, and only by a page of this origin (no CORS).
        admin.MapGet("/session", (HttpContext http) =>
            pool.Dashboard.Find(http.Request.Cookies[DashboardSessions.CookieName]) is { } session
                ? Results.Ok(new DashboardSessionView(session.Csrf, pool.PoolId, session.ExpiresAt))
                : Results.Json(new ErrorView("Only a browser signed in to the dashboard has a session."), statusCode: 404));
        admin.MapGet("/events/stream", (HttpContext http, string? after, CancellationToken cancellationToken) =>
            StreamEventsAsync(http, pool, after, cancellationToken));
    }

    /// <summary>
    /// The event log from <paramref name="after"/> (or the Last-Event-ID a reconnecting browser sends; by default from
    /// now) as server-sent events, each with its id; a comment every 15 s keeps proxies from closing a quiet stream.
    /// </summary>
    private static async Task StreamEventsAsync(HttpContext http, CoordinatorContext pool, string? after, CancellationToken cancellationToken)
    {
        var from = http.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } resume ? resume : after;
        long last;
        if (string.IsNullOrEmpty(from))
            last = pool.Store.ListEvents(0, long.MaxValue, 1, null, newestFirst: true) is [var newest, ..] ? newest.Id : 0;
        else if (!long.TryParse(from, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out last))
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsJsonAsync(new ErrorView($"after={from} is not an event id."), cancellationToken).ConfigureAwait(false);
            return;
        }
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        await http.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
        var quietSince = pool.Time.GetTimestamp();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var rows = pool.Store.ListEvents(last, long.MaxValue, 200, null, newestFirst: false);
                foreach (var e in rows)
                {
                    await http.Response.WriteAsync($"id: {e.Id}\nevent: pool\ndata: {JsonSerializer.Serialize(PoolApi.ToView(e), JsonSerializerOptions.Web)}\n\n", cancellationToken).ConfigureAwait(false);
                    last = e.Id;
                }
                if (rows.Count > 0 || pool.Time.GetElapsedTime(quietSince) > TimeSpan.FromSeconds(15))
                {
                    if (rows.Count == 0)
                        await http.Response.WriteAsync(": still here\n\n", cancellationToken).ConfigureAwait(false);
                    await http.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
                    quietSince = pool.Time.GetTimestamp();
                }
                if (rows.Count < 200)
                    await Task.Delay(TimeSpan.FromMilliseconds(500), pool.Time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The browser went away.
        }
    }

    private static string ReadResource(string name)
    {
        using var reader = new StreamReader(Assets.GetManifestResourceStream(name)!);
        return reader.ReadToEnd();
    }

    private static IResult LoginFailed(HttpContext http, int status, string message)
    {
        // The form shows the reason from the query; the status tells scripts and tests.
        http.Response.StatusCode = status;
        return Asset(http, "login.html", WebUtility.HtmlEncode(message), status);
    }

    /// <summary>A built-in asset by name, with its type and the dashboard's security headers; 404 for any other name.</summary>
    private static IResult Asset(HttpContext http, string file, string? error = null, int status = 200)
    {
        if (!Texts.TryGetValue(file, out var text))
            return Results.NotFound(new ErrorView($"The dashboard has no file '{file}'."));
        if (file == "login.html")
            text = text.Replace("<!--error-->", error is null ? string.Empty : $"<p class=\"error\" role=\"alert\">{error}</p>", StringComparison.Ordinal);
        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
        var type = Path.GetExtension(file) switch
        {
            ".html" => "text/html; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            ".css" => "text/css; charset=utf-8",
            ".svg" => "image/svg+xml",
            _ => "application/octet-stream",
        };
        return Results.Text(text, type, statusCode: status);
    }
}

/// <summary>What the dashboard's page learns of its session: the CSRF token to send with actions.</summary>
public sealed record DashboardSessionView(string Csrf, string PoolId, DateTimeOffset ExpiresAt);
