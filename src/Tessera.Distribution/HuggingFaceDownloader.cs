using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;

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
        var remote = await WithRetriesAsync(file, () => 0, _ => ResolveAsync(file, cancellationToken), cancellationToken).ConfigureAwait(false);
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
                await WithRetriesAsync(file, () => PartialLength(partial),
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
            _store.SetRef(file.ToString(), hash);
            _store.TryGet(hash, out var path);
            return new DownloadResult(path ?? _store.GetBlobPath(hash), hash, length, FromCache: false);
        }
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
    private async Task<T> WithRetriesAsync<T>(HuggingFaceUri file, Func<long> position, Func<int, Task<T>> action, CancellationToken cancellationToken)
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
                Log.DownloadRetry(_logger, file.ToString(), position(), attempt + 1, reason);
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

    private void ThrowIfRefused(HuggingFaceUri file, HttpResponseMessage response)
    {
        if (response.IsSuccessStatusCode)
            return;
        var detail = response.Headers.TryGetValues("X-Error-Message", out var messages) ? " (" + string.Join(" ", messages) + ")" : "";
        var at = file.Revision == HuggingFaceUri.DefaultRevision ? "" : $" at revision {file.Revision}";
        switch (response.StatusCode)
        {
            case HttpStatusCode.NotFound:
                throw new HuggingFaceException($"file not found on Hugging Face: {file.FilePath} in {file.RepoId}{at}{detail}. Check the owner, repository, file name and revision.", response.StatusCode);
            case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden:
                throw new HuggingFaceException(_options.Token is null
                    ? $"{file} needs a token: set HF_TOKEN to a Hugging Face access token that can read {file.RepoId} (gated or private repository){detail}."
                    : $"{file}: Hugging Face refused the token in HF_TOKEN (HTTP {(int)response.StatusCode}){detail}. Accept the model's license on its page or use a token with access to {file.RepoId}.",
                    response.StatusCode);
            default:
                if ((int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
                    throw new HttpRequestException($"Hugging Face answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
                throw new HuggingFaceException($"{file}: Hugging Face answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}{detail}.", response.StatusCode);
        }
    }

    private DownloadResult Cached(HuggingFaceUri file, ContentHash hash, string path, IProgress<TransferProgress>? progress)
    {
        var size = new FileInfo(path).Length;
        progress?.Report(new TransferProgress(file.ToString(), size, size, 0));
        _store.SetRef(file.ToString(), hash);
        return new DownloadResult(path, hash, size, FromCache: true);
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
