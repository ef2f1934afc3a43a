using Microsoft.AspNetCore.Http;
using Tessera.Identity;
using Tessera.Pool.Client;
using Tessera.Pool.Coordinator;

namespace Tessera.Cli.Hosting;

/// <summary>
/// Who may read the coordinator's <c>/metrics</c>: a request with the pool's scrape key (<c>metrics.key</c> in the data
/// directory, made at the first start) or its admin key, as <c>Authorization: Bearer KEY</c>. The scrape key reads
/// figures and nothing else, so Prometheus need not hold a key that can remove nodes.
/// </summary>
internal sealed class ScrapeKeyFilter(CoordinatorContext pool, string scrapeKeyHash) : IEndpointFilter
{
    /// <summary>The scrape key's hash: the key in <paramref name="path"/>, written there (readable by its owner only) when there is none.</summary>
    public static string EnsureKey(string path)
    {
        var key = File.Exists(path) ? File.ReadAllText(path).Trim() : string.Empty;
        if (key.Length == 0)
        {
            key = "tsm_" + Secrets.NewSecret();
            PrivateFile.WriteAllText(path, key + "\n");
        }
        return Secrets.Hash(key);
    }

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var header = http.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        var key = header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : string.Empty;
        if (key.Length > 0 && (Secrets.Matches(key, scrapeKeyHash) || Secrets.Matches(key, pool.AdminKeyHash)))
            return await next(context).ConfigureAwait(false);
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return Results.Json(new ErrorView(key.Length == 0
            ? "/metrics needs a key: send 'Authorization: Bearer KEY' with the key in metrics.key (or admin.key) in the coordinator's data directory."
            : "The key is wrong. Use the key in metrics.key (or admin.key) in the coordinator's data directory."), statusCode: StatusCodes.Status401Unauthorized);
    }
}
