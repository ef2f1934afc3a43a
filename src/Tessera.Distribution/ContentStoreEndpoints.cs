using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Tessera.Distribution;

/// <summary>
/// Serves a <see cref="ContentStore"/> over HTTP so the coordinator and every agent can hand out what they hold:
/// <c>GET|HEAD /blobs/{sha256}</c> (Range requests, ETag = the hash) and <c>GET /blobs/{sha256}/manifest</c>
/// (a <see cref="ChunkManifest"/> as JSON). Authentication is the host's business (the pool adds mTLS).
/// </summary>
public static class ContentStoreEndpoints
{
    /// <summary>Maps the blob endpoints; returns the group so the host can add authorization or filters.</summary>
    public static RouteGroupBuilder MapContentStore(this IEndpointRouteBuilder endpoints, ContentStore store, int chunkSize = ChunkManifest.DefaultChunkSize)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(store);
        if (!ChunkManifest.IsAllowedChunkSize(chunkSize))
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, ChunkManifest.ChunkSizeRule);
        var defaultChunkSize = chunkSize;
        var group = endpoints.MapGroup("/blobs");

        group.MapMethods("/{sha256}", [HttpMethods.Get, HttpMethods.Head], (string sha256) =>
        {
            if (!ContentHash.TryParse(sha256, out var hash))
                return BadHash(sha256);
            if (!store.TryGet(hash, out var path))
                return NotHeld(hash);
            return Results.File(path, "application/octet-stream", fileDownloadName: null, lastModified: null,
                entityTag: new EntityTagHeaderValue("\"" + hash.Hex + "\""), enableRangeProcessing: true);
        }).WithSummary("A blob by its SHA-256 (Range requests; the ETag is the hash)").Produces(200, contentType: "application/octet-stream");

        group.MapGet("/{sha256}/manifest", async (string sha256, int? chunkSize, CancellationToken cancellationToken) =>
        {
            if (!ContentHash.TryParse(sha256, out var hash))
                return BadHash(sha256);
            var size = chunkSize ?? defaultChunkSize;
            if (!ChunkManifest.IsAllowedChunkSize(size))
                return Results.BadRequest(new { error = $"chunkSize {size}: {ChunkManifest.ChunkSizeRule}." });
            if (!store.Contains(hash))
                return NotHeld(hash);
            try
            {
                var manifest = await store.GetManifestAsync(hash, size, cancellationToken).ConfigureAwait(false);
                return Results.Text(manifest.ToJson(), "application/json");
            }
            catch (Exception e) when (e is FileNotFoundException or ChecksumMismatchException)
            {
                return NotHeld(hash);
            }
        }).WithSummary("A blob's chunk manifest (the SHA-256 of each chunk), for transfers from several sources").Produces(200, contentType: "application/json");

        return group;
    }

    /// <summary>
    /// Maps <c>GET {pattern}</c>: the transfers of <paramref name="tracker"/> as JSON (id, state, bytesDone, totalBytes,
    /// bytesPerSecond, fraction, error), for the pool API's progress view.
    /// </summary>
    public static RouteHandlerBuilder MapTransferProgress(this IEndpointRouteBuilder endpoints, TransferTracker tracker, string pattern = "/transfers")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(tracker);
        return endpoints.MapGet(pattern, () => Results.Json(tracker.Snapshot().Select(t => new
        {
            id = t.Id,
            node = t.Node,
            state = t.State.ToString().ToLowerInvariant(),
            bytesDone = t.BytesDone,
            totalBytes = t.TotalBytes,
            bytesPerSecond = Math.Round(t.BytesPerSecond),
            fraction = Math.Round(t.Fraction, 4),
            error = t.Error,
            startedAt = t.StartedAt,
            updatedAt = t.UpdatedAt,
        })));
    }

    private static IResult BadHash(string text) =>
        Results.BadRequest(new { error = $"'{text}' is not a SHA-256 hash (64 hex digits)." });

    private static IResult NotHeld(ContentHash hash) =>
        Results.NotFound(new { error = $"This node holds no blob sha256:{hash}." });
}
