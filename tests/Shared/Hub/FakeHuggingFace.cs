using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Tessera.Distribution;

namespace Tessera.Testing;

/// <summary>
/// Answers like huggingface.co: <c>/{owner}/{repo}/resolve/{revision}/{path}</c> redirects LFS files (302) to a
/// separate CDN server with <c>X-Linked-Etag</c> (the SHA-256), <c>X-Linked-Size</c> and <c>X-Repo-Commit</c>, and
/// serves small git files directly with a git-blob ETag. Both honour Range; the CDN can drop connections, announce a
/// size that is not the file's, or send a chunked body of unannounced length. <c>/api/models/{owner}/{repo}</c> (and
/// <c>.../revision/{revision}</c>) describe a repository as the hub does, its files in <c>siblings[].rfilename</c>.
/// </summary>
internal sealed class FakeHuggingFace : IAsyncDisposable
{
    public const string Commit = "0123456789abcdef0123456789abcdef01234567";

    private readonly ConcurrentDictionary<string, HubFile> _files = new(StringComparer.Ordinal);
    private LocalServer _hub = null!;
    private LocalServer _cdn = null!;

    /// <param name="AdvertisedSize">X-Linked-Size the hub announces instead of the real size; negative: none at all.</param>
    /// <param name="Chunked">The CDN sends the whole file chunked (no Content-Length), ignoring Range.</param>
    public sealed record HubFile(byte[] Data, bool Lfs, string? AdvertisedSha256 = null, long? AdvertisedSize = null, bool Chunked = false);

    public Uri Endpoint => _hub.Address;

    public Uri CdnAddress => _cdn.Address;

    /// <summary>A token the hub requires when set.</summary>
    public string? RequiredToken { get; set; }

    /// <summary>Called per CDN GET with the range start; a stream returned replaces the response body.</summary>
    public Func<HttpContext, long, Stream?>? CdnFault { get; set; }

    public ConcurrentQueue<string> HubRequests { get; } = new();

    /// <summary>Range header ("" when none) and Authorization ("" when none) of each CDN GET.</summary>
    public ConcurrentQueue<(string Range, string Authorization)> CdnRequests { get; } = new();

    public static async Task<FakeHuggingFace> StartAsync()
    {
        var fake = new FakeHuggingFace();
        fake._cdn = await LocalServer.StartAsync(app => app.MapGet("/cdn/{sha}", fake.Cdn));
        fake._hub = await LocalServer.StartAsync(app =>
        {
            app.MapMethods("/{owner}/{repo}/resolve/{revision}/{**file}", [HttpMethods.Get, HttpMethods.Head], fake.Resolve);
            app.MapGet("/api/models/{owner}/{repo}", (HttpContext context, string owner, string repo) => fake.Describe(context, owner, repo, "main"));
            app.MapGet("/api/models/{owner}/{repo}/revision/{revision}", fake.Describe);
        });
        return fake;
    }

    public void Add(string repo, string revision, string file, HubFile content) => _files[$"{repo}/{revision}/{file}"] = content;

    private IResult Describe(HttpContext context, string owner, string repo, string revision)
    {
        if (Refuse(context, owner, repo) is { } refused)
            return refused;
        var prefix = $"{owner}/{repo}/{revision}/";
        var files = _files.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Select(k => k[prefix.Length..]).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            context.Response.Headers["X-Error-Code"] = "RepoNotFound";
            return Results.StatusCode(StatusCodes.Status404NotFound);
        }
        return Results.Json(new { id = $"{owner}/{repo}", sha = Commit, siblings = files.Select(f => new { rfilename = f }) });
    }

    /// <summary>The hub's answer to a request without the token it requires, or null.</summary>
    private IResult? Refuse(HttpContext context, string owner, string repo)
    {
        HubRequests.Enqueue($"{context.Request.Method} {context.Request.Path} auth={context.Request.Headers.Authorization}");
        if (RequiredToken == null || context.Request.Headers.Authorization.ToString() == "Bearer " + RequiredToken)
            return null;
        context.Response.Headers["X-Error-Code"] = "GatedRepo";
        context.Response.Headers["X-Error-Message"] = "Access to model " + owner + "/" + repo + " is restricted.";
        return Results.StatusCode(StatusCodes.Status401Unauthorized);
    }

    private IResult Resolve(HttpContext context, string owner, string repo, string revision, string file)
    {
        if (Refuse(context, owner, repo) is { } refused)
            return refused;
        if (!_files.TryGetValue($"{owner}/{repo}/{revision}/{file}", out var hubFile))
        {
            context.Response.Headers["X-Error-Code"] = "EntryNotFound";
            return Results.StatusCode(StatusCodes.Status404NotFound);
        }
        context.Response.Headers["X-Repo-Commit"] = Commit;
        if (!hubFile.Lfs)
        {
            var gitOid = Convert.ToHexStringLower(System.Security.Cryptography.SHA1.HashData(hubFile.Data));
            return Results.Bytes(hubFile.Data, "application/octet-stream", entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{gitOid}\""),
                enableRangeProcessing: true);
        }
        var sha = hubFile.AdvertisedSha256 ?? ContentHash.Of(hubFile.Data).Hex;
        context.Response.Headers["X-Linked-Etag"] = $"\"{sha}\"";
        if ((hubFile.AdvertisedSize ?? hubFile.Data.Length) is var size and >= 0)
            context.Response.Headers["X-Linked-Size"] = size.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers.ETag = $"\"{sha}\"";
        var key = Uri.EscapeDataString($"{owner}/{repo}/{revision}/{file}");
        return Results.Redirect(new Uri(_cdn.Address, $"cdn/{sha}?key={key}&X-Amz-Signature=abc").AbsoluteUri);
    }

    private IResult Cdn(HttpContext context, string sha, string key)
    {
        var range = context.Request.Headers.Range.ToString();
        CdnRequests.Enqueue((range, context.Request.Headers.Authorization.ToString()));
        if (!_files.TryGetValue(key, out var hubFile))
            return Results.StatusCode(StatusCodes.Status404NotFound);
        var from = range.StartsWith("bytes=", StringComparison.Ordinal) ? long.Parse(range[6..range.IndexOf('-')]) : 0;
        if (hubFile.Chunked)
            return Results.Stream(body => body.WriteAsync(hubFile.Data).AsTask(), "application/octet-stream");
        if (CdnFault?.Invoke(context, from) is { } wrapped)
            context.Response.Body = wrapped;
        return Results.Bytes(hubFile.Data, "application/octet-stream", entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{sha}\""),
            enableRangeProcessing: true);
    }

    public async ValueTask DisposeAsync()
    {
        await _hub.DisposeAsync();
        await _cdn.DisposeAsync();
    }
}
