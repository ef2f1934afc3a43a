using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;

namespace Tessera.Distribution;

/// <summary>
/// Fetches a blob by SHA-256 from content servers (<see cref="ContentStoreEndpoints.MapContentStore"/>): the
/// coordinator first, peers that hold the blob as alternatives. It reads the blob's
/// <see cref="ChunkManifest"/>, fetches missing chunks with HTTP Range requests (several at once), verifies each
/// chunk's SHA-256 before writing it, fetches a failed or corrupt chunk again (from another source when there is
/// one), and publishes to the <see cref="ContentStore"/> only after the whole file's hash matched. If it stops
/// (network loss, every source failing, cancellation), the verified chunks stay in the cache's partial file and
/// the next call for the same hash fetches only what is missing.
/// </summary>
public sealed class TransferClient
{
    private readonly HttpClient _http;
    private readonly ContentStore _store;
    private readonly TransferOptions _options;
    private readonly ILogger? _logger;
    private readonly TimeProvider _time;

    public TransferClient(HttpClient http, ContentStore store, TransferOptions? options = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(store);
        _http = http;
        _store = store;
        _options = options ?? new TransferOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxParallelChunks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxAttemptsPerChunk, 1);
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>
    /// Makes sure the store holds <paramref name="hash"/>, fetching it from <paramref name="sources"/> (base addresses
    /// of content servers, in order of preference) when it does not, and returns the blob's local path.
    /// </summary>
    public async Task<string> FetchAsync(ContentHash hash, IReadOnlyList<Uri> sources, IProgress<TransferProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (await _store.TryGetVerifiedAsync(hash, cancellationToken).ConfigureAwait(false) is { } cached)
        {
            var size = new FileInfo(cached).Length;
            progress?.Report(new TransferProgress("sha256:" + hash, size, size, 0));
            return cached;
        }
        if (sources.Count == 0)
            throw new TransferException($"sha256:{hash} is not in the cache at {_store.Root} and no source to fetch it from was given.");

        var bases = sources.Select(NormaliseBase).ToArray();
        using (await _store.LockAsync(hash.Hex, cancellationToken).ConfigureAwait(false))
        {
            if (await _store.TryGetVerifiedAsync(hash, cancellationToken).ConfigureAwait(false) is { } held)
                return held;
            var manifest = await FetchManifestAsync(hash, bases, cancellationToken).ConfigureAwait(false);
            _store.EnsureSpace(manifest.Size);
            var partial = _store.GetPartialPath(hash) + ".chunked";
            await DownloadChunksAsync(manifest, bases, partial, progress, cancellationToken).ConfigureAwait(false);
            await _store.PublishAsync(partial, hash, "sha256:" + hash, cancellationToken).ConfigureAwait(false);
            return _store.GetBlobPath(hash);
        }
    }

    /// <summary>The manifest of <paramref name="hash"/> from the first source that has a valid one.</summary>
    public async Task<ChunkManifest> FetchManifestAsync(ContentHash hash, IReadOnlyList<Uri> sources, CancellationToken cancellationToken = default)
    {
        var failures = new List<string>();
        foreach (var source in sources.Select(NormaliseBase))
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.ChunkTimeout);
                using var response = await _http.GetAsync(new Uri(source, $"blobs/{hash.Hex}/manifest"), timeout.Token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    failures.Add($"{source}: HTTP {(int)response.StatusCode}");
                    continue;
                }
                var manifest = ChunkManifest.FromJson(await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false));
                if (manifest.Hash != hash)
                {
                    failures.Add($"{source}: manifest is for sha256:{manifest.Hash}");
                    continue;
                }
                return manifest;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or FormatException
                                          || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                failures.Add($"{source}: {e.Message}");
            }
        }
        throw new TransferException($"No source could provide sha256:{hash} ({string.Join("; ", failures)}).");
    }

    private async Task DownloadChunksAsync(ChunkManifest manifest, Uri[] sources, string partial, IProgress<TransferProgress>? progress,
        CancellationToken cancellationToken)
    {
        await using var file = new FileStream(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.Asynchronous);
        var handle = file.SafeFileHandle;
        var existing = file.Length;
        if (existing != manifest.Size)
            file.SetLength(manifest.Size);

        // Resume: a chunk is done when the bytes at its place already hash to the manifest's value.
        var missing = new List<int>();
        long verified = 0;
        for (var i = 0; i < manifest.ChunkCount; i++)
        {
            var (offset, length) = manifest.GetChunk(i);
            if (offset + length <= existing && ContentHash.OfFileRange(handle, offset, length) == manifest.Chunks[i])
                verified += length;
            else
                missing.Add(i);
        }

        var meter = new ProgressMeter("sha256:" + manifest.Hash, manifest.Size, verified, progress, _time);
        meter.Report(force: true);
        var health = new int[sources.Length];
        var options = new ParallelOptions { MaxDegreeOfParallelism = _options.MaxParallelChunks, CancellationToken = cancellationToken };
        try
        {
            await Parallel.ForEachAsync(missing, options, async (index, ct) =>
                await FetchChunkAsync(manifest, index, sources, health, handle, meter, ct).ConfigureAwait(false)).ConfigureAwait(false);
        }
        finally
        {
            await file.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        file.Flush(flushToDisk: true);
        meter.Report(force: true);
    }

    private async Task FetchChunkAsync(ChunkManifest manifest, int index, Uri[] sources, int[] health, Microsoft.Win32.SafeHandles.SafeFileHandle handle,
        ProgressMeter meter, CancellationToken cancellationToken)
    {
        var (offset, length) = manifest.GetChunk(index);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        var reasons = new List<string>();
        try
        {
            var lastFailed = -1;
            for (var attempt = 0; attempt < _options.MaxAttemptsPerChunk; attempt++)
            {
                var s = PickSource(health, lastFailed);
                var source = sources[s];
                long received = 0;
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    timeout.CancelAfter(_options.ChunkTimeout);
                    received = await ReadRangeAsync(new Uri(source, $"blobs/{manifest.Hash.Hex}"), offset, buffer.AsMemory(0, length), meter, timeout.Token)
                        .ConfigureAwait(false);
                    var actual = ContentHash.Of(buffer.AsSpan(0, length));
                    if (actual != manifest.Chunks[index])
                        throw new InvalidDataException($"chunk {index} hashes to {actual}, expected {manifest.Chunks[index]}");
                    await RandomAccess.WriteAsync(handle, buffer.AsMemory(0, length), offset, cancellationToken).ConfigureAwait(false);
                    Interlocked.Exchange(ref health[s], 0);
                    return;
                }
                catch (Exception e) when (e is HttpRequestException or IOException or InvalidDataException
                                              || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    meter.Add(-received);
                    Interlocked.Increment(ref health[s]);
                    lastFailed = s;
                    var reason = e is OperationCanceledException ? $"no answer within {_options.ChunkTimeout}" : e.Message;
                    reasons.Add($"{source}: {reason}");
                    Log.ChunkFailed(_logger, index, source.ToString(), reason);
                    if (attempt + 1 < _options.MaxAttemptsPerChunk)
                        await Task.Delay(_options.RetryDelay * (1 << Math.Min(attempt, 6)), _time, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        throw new TransferInterruptedException(
            $"Transfer of sha256:{manifest.Hash} stopped: chunk {index} failed {_options.MaxAttemptsPerChunk} times ({string.Join("; ", reasons.TakeLast(3))}). " +
            "The verified chunks are kept; run the transfer again to resume.", meter.Done, manifest.Size);
    }

    /// <summary>Reads exactly <c>target.Length</c> bytes at <paramref name="offset"/>, counting them as they arrive.</summary>
    private async Task<long> ReadRangeAsync(Uri uri, long offset, Memory<byte> target, ProgressMeter meter, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.Range = new RangeHeaderValue(offset, offset + target.Length - 1);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.OK && offset != 0)
            throw new HttpRequestException($"{uri} ignored the Range header (HTTP 200 instead of 206)");
        if (response.StatusCode is not (HttpStatusCode.PartialContent or HttpStatusCode.OK))
            throw new HttpRequestException($"{uri} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
        if (response.StatusCode == HttpStatusCode.PartialContent && response.Content.Headers.ContentRange is { From: { } from } && from != offset)
            throw new HttpRequestException($"{uri} sent bytes from {from}, asked for {offset}");
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var done = 0;
        try
        {
            while (done < target.Length)
            {
                var n = await body.ReadAsync(target[done..], cancellationToken).ConfigureAwait(false);
                if (n == 0)
                    throw new IOException($"connection closed after {done} of {target.Length} bytes");
                done += n;
                meter.Add(n);
            }
        }
        catch
        {
            meter.Add(-done);
            throw;
        }
        return done;
    }

    /// <summary>
    /// The source with the fewest recent failures, earlier ones first (the coordinator leads), other than the one
    /// that just failed this chunk when there is an alternative.
    /// </summary>
    internal static int PickSource(int[] health, int avoid)
    {
        var best = -1;
        for (var i = 0; i < health.Length; i++)
        {
            if (i == avoid && health.Length > 1)
                continue;
            if (best < 0 || Volatile.Read(ref health[i]) < Volatile.Read(ref health[best]))
                best = i;
        }
        return best;
    }

    private static Uri NormaliseBase(Uri uri) =>
        uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
}
