using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;
using Tessera.Engine.Gguf;

namespace Tessera.Distribution;

/// <summary>
/// Downloads files from Hugging Face (or any server that answers the same way: <see cref="HuggingFaceOptions.Endpoint"/>)
/// into a <see cref="ContentStore"/>. A HEAD request on <c>/{owner}/{repo}/resolve/{revision}/{path}</c> gives the file's
/// SHA-256 (<c>X-Linked-Etag</c> or <c>ETag</c> when it is 64 hex digits) and size (<c>X-Linked-Size</c> or
/// <c>Content-Length</c>); the GET follows redirects (the token goes only to the hub, never to the CDN), appends to a
/// partial file in the cache and, when the connection drops, resumes with <c>Range: bytes=N-</c> from the partial
/// file's length, in this call and in any later one. The file is published only when its SHA-256 matched. A file larger
/// than <see cref="HuggingFaceOptions.MaxDownloadBytes"/> or than the store may hold is refused before it is downloaded
/// when its size is announced, and stopped as soon as the server sends more than allowed (or than it announced) when
/// not: its partial file is deleted and nothing is published.
/// </summary>
public sealed class HuggingFaceDownloader : IDisposable
{
    private const int BufferSize = 1 << 20;

    private readonly ContentStore _store;
    private readonly HuggingFaceOptions _options;
    private readonly HttpClient _http;
    private readonly ILogger? _logger;
    private readonly TimeProvider _time;

    /// <param name="handler">HTTP handler to use; by default one that does not follow redirects by itself (this class does).</param>
    public HuggingFaceDownloader(ContentStore store, HuggingFaceOptions? options = null, HttpMessageHandler? handler = null,
        ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _options = options ?? HuggingFaceOptions.FromEnvironment();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxAttempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxDownloadBytes, 1);
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        handler ??= new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(30),
        };
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("tessera", "1.0"));
    }

    /// <summary>What the hub says about a file before downloading it.</summary>
    public sealed record RemoteFile(Uri Url, ContentHash? Sha256, long? Size, string? Commit);

    /// <summary>Downloads <paramref name="address"/> (an hf:// address) into the store, or finds it there.</summary>
    public Task<DownloadResult> DownloadAsync(string address, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default) =>
        DownloadAsync(HuggingFaceUri.Parse(address), progress, cancellationToken);

    /// <exception cref="FormatException">A part of <paramref name="file"/> is not valid (see <see cref="HuggingFaceUri.Validate"/>).</exception>
    /// <exception cref="DownloadTooLargeException">The file is larger than allowed; nothing of it was kept.</exception>
    public async Task<DownloadResult> DownloadAsync(HuggingFaceUri file, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        file.Validate();
        if (_options.Offline)
            return await CachedOfflineAsync(file, progress, cancellationToken).ConfigureAwait(false);
        var remote = await WithRetriesAsync(file.ToString(), () => 0, _ => ResolveAsync(file, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (remote.Sha256 is { } known && await _store.TryGetVerifiedAsync(known, cancellationToken).ConfigureAwait(false) is { } cachedPath)
            return Cached(file, known, cachedPath, progress);

        var partialKey = remote.Sha256?.Hex ?? $"hf:{file}:{remote.Commit}";
        using (await _store.LockAsync(partialKey, cancellationToken).ConfigureAwait(false))
        {
            if (remote.Sha256 is { } again && await _store.TryGetVerifiedAsync(again, cancellationToken).ConfigureAwait(false) is { } held)
                return Cached(file, again, held, progress);
            var partial = remote.Sha256 is { } h ? _store.GetPartialPath(h) : _store.GetPartialPath(partialKey);
            if (remote.Size is { } size)
            {
                if (size > Limit.Bytes)
                {
                    ContentStore.TryDelete(partial);
                    throw Limit.RefuseAnnounced(file.ToString(), size);
                }
                _store.EnsureSpace(size);
            }
            var meter = new ProgressMeter(file.ToString(), remote.Size ?? 0, PartialLength(partial), progress, _time);
            meter.Report(force: true);
            try
            {
                await WithRetriesAsync(file.ToString(), () => PartialLength(partial),
                    _ => DownloadOnceAsync(file, remote, partial, meter, cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            catch (DownloadTooLargeException)
            {
                // Never resumed: the bytes of a file that may not be kept are not worth keeping.
                ContentStore.TryDelete(partial);
                throw;
            }

            var length = PartialLength(partial);
            if (remote.Size is { } expected && length != expected)
            {
                ContentStore.TryDelete(partial);
                throw new TransferException($"{file}: received {length} bytes but Hugging Face announced {expected}; the partial download was discarded, run the command again.");
            }
            meter.Total = length;
            meter.Report(force: true);
            var hash = await _store.PublishAsync(partial, remote.Sha256, file.ToString(), cancellationToken).ConfigureAwait(false);
            Remember(file, hash);
            _store.TryGet(hash, out var path);
            return new DownloadResult(path ?? _store.GetBlobPath(hash), hash, length, FromCache: false);
        }
    }

    /// <summary>
    /// The first <paramref name="count"/> bytes of a file (fewer when it is shorter) and its whole size, by one ranged
    /// GET, following redirects; nothing is stored. Reads a GGUF's header without downloading its tensors.
    /// </summary>
    public async Task<(byte[] Prefix, long Size)> ReadPrefixAsync(HuggingFaceUri file, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        file.Validate();
        var url = file.ResolveUrl(_options.Endpoint);
        for (var hop = 0; hop <= _options.MaxRedirects; hop++)
        {
            var request = NewRequest(HttpMethod.Get, url);
            request.Headers.Range = new RangeHeaderValue(0, count - 1);
            using var response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
            if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                url = Follow(file, url, location);
                continue;
            }
            ThrowIfRefused(file, response);
            var size = response.Content.Headers.ContentRange?.Length ?? response.Content.Headers.ContentLength
                ?? throw new HuggingFaceException($"{file}: the server did not say how large the file is.", response.StatusCode);
            // A server that ignores Range sends the whole file: read only what was asked for.
            var prefix = new byte[(int)Math.Min(count, size)];
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await body.ReadAtLeastAsync(prefix, prefix.Length, throwOnEndOfStream: true, cancellationToken).ConfigureAwait(false);
            return (prefix, size);
        }
        throw new HuggingFaceException($"{file}: more than {_options.MaxRedirects} redirects.");
    }

    /// <summary>HEAD on the resolve address: the file's SHA-256, size and the address to download from.</summary>
    public async Task<RemoteFile> ResolveAsync(HuggingFaceUri file, CancellationToken cancellationToken = default)
    {
        var url = file.ResolveUrl(_options.Endpoint);
        for (var hop = 0; hop <= _options.MaxRedirects; hop++)
        {
            using var request = NewRequest(HttpMethod.Head, url);
            using var response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is >= 300 and < 400)
            {
                var location = response.Headers.Location ?? throw new HuggingFaceException($"{file}: Hugging Face redirected without a Location.", response.StatusCode);
                var next = Follow(file, url, location);
                var linked = LinkedHash(response);
                if (linked != null || LinkedSize(response) != null)
                    return new RemoteFile(next, linked ?? EtagHash(response), LinkedSize(response), Commit(response)); // LFS: the redirect carries the metadata
                url = next;
                continue;
            }
            ThrowIfRefused(file, response);
            return new RemoteFile(url, LinkedHash(response) ?? EtagHash(response), LinkedSize(response) ?? response.Content.Headers.ContentLength, Commit(response));
        }
        throw new HuggingFaceException($"{file}: more than {_options.MaxRedirects} redirects.");
    }

    /// <summary>
    /// The files <paramref name="reference"/> names, without downloading them: for <c>hf://owner/repo:TAG</c> (or no tag)
    /// the model <see cref="GgufFileChoice"/> picks from the repository's file list (the hub's, or offline the names an
    /// earlier download left in the store); for a file, that file, or every part of the split set it is a part of.
    /// </summary>
    /// <exception cref="FormatException">The reference is not valid.</exception>
    /// <exception cref="HuggingFaceException">The repository cannot be listed, or no single model matches.</exception>
    public async Task<IReadOnlyList<HuggingFaceUri>> ResolveModelAsync(string reference, CancellationToken cancellationToken = default)
    {
        if (HuggingFaceRepoReference.IsRepoReference(reference))
        {
            var repo = HuggingFaceRepoReference.Parse(reference);
            var files = _options.Offline
                ? _store.ListNames(repo.StoreFolder)
                : await WithRetriesAsync(repo.ToString(), () => 0, _ => ListFilesAsync(repo, cancellationToken), cancellationToken).ConfigureAwait(false);
            if (_options.Offline && files.Count == 0)
                throw new HuggingFaceException($"{repo}: no file of {repo.RepoId} is in the cache ({_store.Root}), and HF_HUB_OFFLINE is set, so the repository is not asked: unset HF_HUB_OFFLINE to download it.");
            return GgufFileChoice.Choose(files, repo.Tag, repo.ToString()).Files.Select(repo.File).ToList();
        }
        var file = HuggingFaceUri.Parse(reference);
        return GgufSplitName.TryParse(file.FilePath, out var split) && split.Count > 1
            ? split.AllParts().Select(part => file with { FilePath = part }).ToList()
            : [file];
    }

    /// <summary>
    /// Downloads every file of the model <paramref name="reference"/> names (<see cref="ResolveModelAsync"/>) into the
    /// store, or finds them there, each under its name in <see cref="ContentStore.NameDirectory"/> too, so a split
    /// set's parts sit side by side.
    /// </summary>
    public async Task<ModelDownload> DownloadModelAsync(string reference, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default) =>
        await DownloadModelAsync(await ResolveModelAsync(reference, cancellationToken).ConfigureAwait(false), progress, cancellationToken).ConfigureAwait(false);

    /// <summary>Downloads <paramref name="files"/> (a model's, from <see cref="ResolveModelAsync"/>) as <see cref="DownloadModelAsync(string, IProgress{TransferProgress}?, CancellationToken)"/> does.</summary>
    public async Task<ModelDownload> DownloadModelAsync(IReadOnlyList<HuggingFaceUri> files, IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(files.Count);
        var parts = new List<DownloadResult>(files.Count);
        foreach (var file in files)
            parts.Add(await DownloadAsync(file, progress, cancellationToken).ConfigureAwait(false));
        return new ModelDownload(files, parts, Path.Combine(_store.NameDirectory, files[0].StoreName.Replace('/', Path.DirectorySeparatorChar)));
    }

    /// <summary>The repository's files at its revision, from the hub's <c>/api/models/...</c> (<c>siblings[].rfilename</c>).</summary>
    public async Task<IReadOnlyList<string>> ListFilesAsync(HuggingFaceRepoReference repo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repo);
        using var request = NewRequest(HttpMethod.Get, repo.ApiUrl(_options.Endpoint));
        using var response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        ThrowIfRefused(repo.ToString(), repo.RepoId, repo.Revision, null, response);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        return HubModelInfo.Files(body, repo.ToString());
    }

    public void Dispose() => _http.Dispose();

    private DownloadLimit Limit => new(_options.MaxDownloadBytes, _store.MaxBytes);

    private async Task<int> DownloadOnceAsync(HuggingFaceUri file, RemoteFile remote, string partial, ProgressMeter meter, CancellationToken cancellationToken)
    {
        var existing = PartialLength(partial);
        var allowed = Limit.For(remote.Size);
        if (existing > allowed)
        {
            ContentStore.TryDelete(partial);
            existing = 0;
        }
        meter.SetDone(existing);
        if (remote.Size is { } total && existing == total)
            return 0;

        var url = file.ResolveUrl(_options.Endpoint);
        HttpResponseMessage? response = null;
        try
        {
            for (var hop = 0; ; hop++)
            {
                if (hop > _options.MaxRedirects)
                    throw new HuggingFaceException($"{file}: more than {_options.MaxRedirects} redirects.");
                var request = NewRequest(HttpMethod.Get, url);
                if (existing > 0)
                    request.Headers.Range = new RangeHeaderValue(existing, null);
                response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
                if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    url = Follow(file, url, location);
                    response.Dispose();
                    response = null;
                    continue;
                }
                break;
            }

            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                // Asked past the end: either the file is complete, or the partial file is not a prefix of it.
                if (response.Content.Headers.ContentRange?.Length is { } length && length == existing)
                    return 0;
                ContentStore.TryDelete(partial);
                throw new IOException("the server refused to resume (416); restarting from the beginning");
            }
            ThrowIfRefused(file, response);
            var append = response.StatusCode == HttpStatusCode.PartialContent;
            if (append && response.Content.Headers.ContentRange is { From: { } from } && from != existing)
                throw new IOException($"the server resumed at byte {from}, asked for {existing}");
            if (!append && existing > 0)
            {
                existing = 0; // the server ignored the Range header and sends the whole file
                meter.SetDone(0);
            }
            if (response.Content.Headers.ContentLength is { } contentLength)
            {
                // Refused before the body is read: a server that says it will send too much is not listened to.
                if (contentLength > allowed - existing)
                    throw remote.Size is { } announced
                        ? Limit.RefuseReceived(file.ToString(), announced, existing + contentLength)
                        : Limit.RefuseAnnounced(file.ToString(), existing + contentLength);
                if (remote.Size is null)
                    meter.Total = existing + contentLength;
            }

            await using var target = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var buffer = new byte[BufferSize];
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var written = existing;
            try
            {
                while (true)
                {
                    stall.CancelAfter(_options.StallTimeout);
                    var n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                    if (n == 0)
                        break;
                    // Checked before writing: not one byte past what the file may have reaches the disk.
                    written += n;
                    if (written > allowed)
                        throw Limit.RefuseReceived(file.ToString(), remote.Size, written);
                    await target.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                    meter.Add(n);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new IOException($"no data for {_options.StallTimeout.TotalSeconds:0} s");
            }
            finally
            {
                await target.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
            var received = target.Length;
            if (remote.Size is { } want && received < want)
                throw new IOException($"the connection ended after {received} of {want} bytes");
            return 0;
        }
        finally
        {
            response?.Dispose();
        }
    }

    /// <summary>Runs <paramref name="action"/>, retrying transient failures (network loss, 5xx, timeouts) with backoff.</summary>
    private async Task<T> WithRetriesAsync<T>(string file, Func<long> position, Func<int, Task<T>> action, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await action(attempt).ConfigureAwait(false);
            }
            catch (Exception e) when (IsTransient(e, cancellationToken))
            {
                var reason = e.InnerException is { } inner && e is HttpRequestException ? $"{e.Message} ({inner.Message})" : e.Message;
                if (attempt >= _options.MaxAttempts)
                {
                    var done = position();
                    throw new TransferInterruptedException(
                        $"Download of {file} interrupted after {done} bytes: {reason}. The {done} bytes received are kept in {_store.Root}; run the same command again to resume.",
                        done, 0, e);
                }
                Log.DownloadRetry(_logger, file, position(), attempt + 1, reason);
                await Task.Delay(_options.RetryDelay * (1 << Math.Min(attempt - 1, 6)), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static bool IsTransient(Exception e, CancellationToken cancellationToken) => e switch
    {
        HuggingFaceException => false,
        HttpRequestException { StatusCode: { } code } => (int)code >= 500 || code == HttpStatusCode.TooManyRequests,
        HttpRequestException => true,
        IOException and not TransferException => true,
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        _ => false,
    };

    private HttpRequestMessage NewRequest(HttpMethod method, Uri url)
    {
        var request = new HttpRequestMessage(method, url);
        request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
        if (_options.Token is { Length: > 0 } token && IsHub(url))
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.StallTimeout);
        try
        {
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"{request.RequestUri?.Host} did not answer within {_options.StallTimeout.TotalSeconds:0} s");
        }
        finally
        {
            request.Dispose();
        }
    }

    /// <summary>
    /// Where a redirect leads. The CDN is on another host by design; but only over http(s), and never from https down to
    /// plain http, where anyone on the path could change the bytes or read a signed address.
    /// </summary>
    private static Uri Follow(HuggingFaceUri file, Uri current, Uri location)
    {
        var next = location.IsAbsoluteUri ? location : new Uri(current, location);
        if (next.Scheme != Uri.UriSchemeHttps && next.Scheme != Uri.UriSchemeHttp)
            throw new HuggingFaceException($"{file}: the server redirected to '{HuggingFaceNames.Show(next.OriginalString)}', which is not an http(s) address; refused.");
        if (current.Scheme == Uri.UriSchemeHttps && next.Scheme == Uri.UriSchemeHttp)
            throw new HuggingFaceException($"{file}: the server redirected from https to plain http ({next.Host}); refused.");
        return next;
    }

    private bool IsHub(Uri url) =>
        string.Equals(url.Host, _options.Endpoint.Host, StringComparison.OrdinalIgnoreCase) && url.Port == _options.Endpoint.Port;

    private void ThrowIfRefused(HuggingFaceUri file, HttpResponseMessage response) =>
        ThrowIfRefused(file.ToString(), file.RepoId, file.Revision, file.FilePath, response);

    /// <param name="filePath">The file asked for; null when the repository itself was.</param>
    private void ThrowIfRefused(string shown, string repoId, string revision, string? filePath, HttpResponseMessage response)
    {
        if (response.IsSuccessStatusCode)
            return;
        var detail = response.Headers.TryGetValues("X-Error-Message", out var messages) ? " (" + string.Join(" ", messages) + ")" : "";
        var at = revision == HuggingFaceUri.DefaultRevision ? "" : $" at revision {revision}";
        switch (response.StatusCode)
        {
            case HttpStatusCode.NotFound when filePath is null:
                throw new HuggingFaceException($"repository not found on Hugging Face: {repoId}{at}{detail}. Check the owner, repository and revision.", response.StatusCode);
            case HttpStatusCode.NotFound:
                throw new HuggingFaceException($"file not found on Hugging Face: {filePath} in {repoId}{at}{detail}. Check the owner, repository, file name and revision.", response.StatusCode);
            case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden:
                throw new HuggingFaceException(_options.Token is null
                    ? $"{shown} needs a token: set HF_TOKEN (or log in with `hf auth login`, which writes {TokenFileShown}) to a Hugging Face access token that can read {repoId} (gated or private repository){detail}."
                    : $"{shown}: Hugging Face refused the token in {_options.TokenSource ?? "HF_TOKEN"} (HTTP {(int)response.StatusCode}){detail}. Accept the model's license on its page or use a token with access to {repoId}.",
                    response.StatusCode);
            default:
                if ((int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
                    throw new HttpRequestException($"Hugging Face answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
                throw new HuggingFaceException($"{shown}: Hugging Face answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}{detail}.", response.StatusCode);
        }
    }

    private static string TokenFileShown => "the token file ($HF_TOKEN_PATH, else $HF_HOME/token)";

    private DownloadResult Cached(HuggingFaceUri file, ContentHash hash, string path, IProgress<TransferProgress>? progress)
    {
        var size = new FileInfo(path).Length;
        progress?.Report(new TransferProgress(file.ToString(), size, size, 0));
        Remember(file, hash);
        return new DownloadResult(path, hash, size, FromCache: true);
    }

    /// <summary>What the store records of a file it holds: its address's hash (ref) and its name (<see cref="ContentStore.SetName"/>).</summary>
    private void Remember(HuggingFaceUri file, ContentHash hash)
    {
        _store.SetRef(file.ToString(), hash);
        _store.SetName(file.StoreName, hash);
    }

    /// <summary>Offline: the file as an earlier download left it in the store (checked), or an error naming HF_HUB_OFFLINE.</summary>
    private async Task<DownloadResult> CachedOfflineAsync(HuggingFaceUri file, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        if (_store.TryGetRef(file.ToString(), out var hash) && await _store.TryGetVerifiedAsync(hash, cancellationToken).ConfigureAwait(false) is { } path)
            return Cached(file, hash, path, progress);
        throw new HuggingFaceException($"{file} is not in the cache ({_store.Root}), and HF_HUB_OFFLINE is set, so it is not downloaded: unset HF_HUB_OFFLINE to download it.");
    }

    private static long PartialLength(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : 0;
    }

    private static ContentHash? LinkedHash(HttpResponseMessage response) => HashFrom(Header(response, "X-Linked-Etag"));

    private static ContentHash? EtagHash(HttpResponseMessage response) => HashFrom(response.Headers.ETag?.Tag ?? Header(response, "ETag"));

    private static long? LinkedSize(HttpResponseMessage response) =>
        long.TryParse(Header(response, "X-Linked-Size"), out var size) && size >= 0 ? size : null;

    private static string? Commit(HttpResponseMessage response) => Header(response, "X-Repo-Commit");

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    /// <summary>An ETag that is a SHA-256 (LFS files); git blob ids (40 hex) and others give null.</summary>
    internal static ContentHash? HashFrom(string? etag)
    {
        if (etag is null)
            return null;
        var text = etag.Trim();
        if (text.StartsWith("W/", StringComparison.Ordinal))
            text = text[2..];
        text = text.Trim('"');
        return text.Length == ContentHash.HexLength && ContentHash.TryParse(text, out var hash) ? hash : null;
    }
}
