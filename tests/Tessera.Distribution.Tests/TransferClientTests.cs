using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Tessera.Distribution;
using Tessera.Testing;

namespace Tessera.Distribution.Tests;

/// <summary>Chunked transfers between real content servers on 127.0.0.1 and a client cache.</summary>
public sealed class TransferClientTests : IDisposable
{
    private const int ChunkSize = 64 << 10;

    private readonly TempDirectory _dir = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(20) };

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }

    private static TransferOptions FastRetries(int attempts = 6, int parallel = 4) => new()
    {
        MaxAttemptsPerChunk = attempts,
        MaxParallelChunks = parallel,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        ChunkTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>A node serving <paramref name="store"/> with a fault hook in front of the blob endpoints.</summary>
    private static Task<LocalServer> ServeAsync(ContentStore store, ServerLog log, Func<HttpContext, long, Stream?>? fault = null) =>
        LocalServer.StartAsync(app =>
        {
            app.Use(async (context, next) =>
            {
                var path = context.Request.Path.Value ?? "";
                if (path.StartsWith("/blobs/", StringComparison.Ordinal) && !path.EndsWith("/manifest", StringComparison.Ordinal))
                {
                    var from = RangeStart(context.Request);
                    log.Requests.Enqueue(from);
                    if (fault?.Invoke(context, from) is { } wrapped)
                        context.Response.Body = wrapped;
                }
                await next(context);
            });
            app.MapContentStore(store, ChunkSize);
        });

    private static long RangeStart(HttpRequest request)
    {
        var range = request.Headers.Range.ToString();
        return range.StartsWith("bytes=", StringComparison.Ordinal) ? long.Parse(range[6..range.IndexOf('-')]) : 0;
    }

    private sealed class ServerLog
    {
        public ConcurrentQueue<long> Requests { get; } = new();

        public int CountAt(long offset) => Requests.Count(r => r == offset);
    }

    private async Task<(ContentStore Store, ContentHash Hash, byte[] Data)> SeedAsync(string name, int size)
    {
        var store = new ContentStore(_dir.Combine(name));
        var data = TestData.Bytes(size, seed: size);
        var hash = await TestData.PublishAsync(store, _dir, data);
        return (store, hash, data);
    }

    [Fact]
    public async Task Fetch_FromOneSource_VerifiesEveryChunkAndPublishes()
    {
        // Arrange
        var (origin, hash, data) = await SeedAsync("origin", ChunkSize * 10 + 777);
        var log = new ServerLog();
        await using var server = await ServeAsync(origin, log);
        var cache = new ContentStore(_dir.Combine("agent"));
        var reports = new ConcurrentQueue<TransferProgress>();
        var client = new TransferClient(_http, cache, FastRetries());

        // Act
        var path = await client.FetchAsync(hash, [server.Address], new SyncProgress(reports.Enqueue));

        // Assert
        Assert.Equal(data, await File.ReadAllBytesAsync(path));
        Assert.True(cache.Contains(hash));
        Assert.Equal(11, log.Requests.Count);
        Assert.Equal(data.Length, reports.Last().BytesDone);
        Assert.Equal(data.Length, reports.Last().TotalBytes);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(cache.Root, "partial")));
    }

    [Fact]
    public async Task Fetch_WhenTheServerDropsTheConnectionMidChunk_RetriesAndCompletes()
    {
        var (origin, hash, data) = await SeedAsync("origin", ChunkSize * 6);
        var log = new ServerLog();
        var drops = 0;
        await using var server = await ServeAsync(origin, log, (context, from) =>
            from == ChunkSize * 2 && Interlocked.Increment(ref drops) <= 2
                ? new FaultyStream(context.Response.Body, context, dropAfter: ChunkSize / 3)
                : null);
        var client = new TransferClient(_http, new ContentStore(_dir.Combine("agent")), FastRetries());

        var path = await client.FetchAsync(hash, [server.Address]);

        Assert.Equal(data, await File.ReadAllBytesAsync(path));
        Assert.Equal(3, log.CountAt(ChunkSize * 2));
    }

    [Fact]
    public async Task Fetch_AfterAnInterruptedTransfer_ResumesFromTheVerifiedChunksOnDisk()
    {
        // Arrange: the connection is lost for good at chunk 5 of 8 during the first transfer.
        var (origin, hash, data) = await SeedAsync("origin", ChunkSize * 8);
        var log = new ServerLog();
        var broken = true;
        await using var server = await ServeAsync(origin, log, (context, from) =>
            Volatile.Read(ref broken) && from >= ChunkSize * 5 ? new FaultyStream(context.Response.Body, context, dropAfter: 1000) : null);
        var cache = new ContentStore(_dir.Combine("agent"));

        var first = new TransferClient(_http, cache, FastRetries(attempts: 2, parallel: 1));
        var interrupted = await Assert.ThrowsAsync<TransferInterruptedException>(() => first.FetchAsync(hash, [server.Address]));
        Assert.Contains("run the transfer again to resume", interrupted.Message);
        Assert.False(cache.Contains(hash));

        // Act: the network is back; a new client (as after a restart) on the same cache.
        Volatile.Write(ref broken, false);
        while (log.Requests.TryDequeue(out _))
        {
        }
        var reports = new ConcurrentQueue<TransferProgress>();
        var second = new TransferClient(_http, new ContentStore(_dir.Combine("agent")), FastRetries());
        var path = await second.FetchAsync(hash, [server.Address], new SyncProgress(reports.Enqueue));

        // Assert: only chunks 5, 6 and 7 travelled again; the first report already counts the 5 kept chunks.
        Assert.Equal(data, await File.ReadAllBytesAsync(path));
        Assert.Equal([ChunkSize * 5L, ChunkSize * 6L, ChunkSize * 7L], log.Requests.Order().ToArray());
        Assert.Equal(ChunkSize * 5L, reports.First().BytesDone);
    }

    [Fact]
    public async Task Fetch_WhenAChunkArrivesCorrupted_DetectsItAndFetchesItAgain()
    {
        var (origin, hash, data) = await SeedAsync("origin", ChunkSize * 5);
        var log = new ServerLog();
        var flips = 0;
        await using var server = await ServeAsync(origin, log, (context, from) =>
            from == ChunkSize * 3 && Interlocked.Increment(ref flips) == 1
                ? new FaultyStream(context.Response.Body, context, flipAt: 12_345)
                : null);
        var cache = new ContentStore(_dir.Combine("agent"));
        var client = new TransferClient(_http, cache, FastRetries());

        var path = await client.FetchAsync(hash, [server.Address]);

        Assert.Equal(data, await File.ReadAllBytesAsync(path));
        Assert.Equal(2, log.CountAt(ChunkSize * 3));
        Assert.Equal(1, log.CountAt(ChunkSize * 2));
    }

    [Fact]
    public async Task Fetch_WithTwoSourcesOneFailing_GetsEverythingFromTheOther()
    {
        // Arrange: the coordinator (listed first) corrupts every chunk; a peer serves them right.
        var (coordinatorStore, hash, data) = await SeedAsync("coordinator", ChunkSize * 6);
        var peerStore = new ContentStore(_dir.Combine("peer"));
        await peerStore.ImportAsync(coordinatorStore.GetBlobPath(hash));
        var coordinatorLog = new ServerLog();
        var peerLog = new ServerLog();
        await using var coordinator = await ServeAsync(coordinatorStore, coordinatorLog, (context, _) =>
            new FaultyStream(context.Response.Body, context, flipAt: 7));
        await using var peer = await ServeAsync(peerStore, peerLog);
        var client = new TransferClient(_http, new ContentStore(_dir.Combine("agent")), FastRetries());

        // Act
        var path = await client.FetchAsync(hash, [coordinator.Address, peer.Address]);

        // Assert
        Assert.Equal(data, await File.ReadAllBytesAsync(path));
        Assert.Equal(6, peerLog.Requests.Distinct().Count());
    }

    [Fact]
    public async Task Fetch_WithADeadFirstSource_UsesTheSecond()
    {
        var (origin, hash, data) = await SeedAsync("origin", ChunkSize * 3);
        var log = new ServerLog();
        await using var server = await ServeAsync(origin, log);
        var dead = new Uri("http://127.0.0.1:1/");
        var client = new TransferClient(_http, new ContentStore(_dir.Combine("agent")), FastRetries());

        var path = await client.FetchAsync(hash, [dead, server.Address]);

        Assert.Equal(data, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Fetch_OfABlobNoSourceHolds_SaysSo()
    {
        var (origin, _, _) = await SeedAsync("origin", 1000);
        await using var server = await ServeAsync(origin, new ServerLog());
        var client = new TransferClient(_http, new ContentStore(_dir.Combine("agent")), FastRetries());
        var missing = ContentHash.Of([9, 9, 9]);

        var error = await Assert.ThrowsAsync<TransferException>(() => client.FetchAsync(missing, [server.Address]));

        Assert.Contains("No source could provide sha256:" + missing, error.Message);
        Assert.Contains("HTTP 404", error.Message);
    }

    [Fact]
    public async Task Fetch_OfACachedBlob_ContactsNoSource()
    {
        var (cache, hash, _) = await SeedAsync("agent", 5000);
        var client = new TransferClient(_http, cache, FastRetries());

        var path = await client.FetchAsync(hash, [new Uri("http://127.0.0.1:1/")]);

        Assert.Equal(cache.GetBlobPath(hash), path);
    }

    [Fact]
    public async Task BlobEndpoint_ServesRangesManifestsAndNotFound()
    {
        var (origin, hash, data) = await SeedAsync("origin", 100_000);
        await using var server = await ServeAsync(origin, new ServerLog());
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.Address, $"blobs/{hash}"));
        request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(1000, 1999);

        using var ranged = await _http.SendAsync(request);
        var manifest = ChunkManifest.FromJson(await _http.GetStringAsync(new Uri(server.Address, $"blobs/{hash}/manifest")));
        using var missing = await _http.GetAsync(new Uri(server.Address, $"blobs/{ContentHash.Of([1])}"));
        using var bad = await _http.GetAsync(new Uri(server.Address, "blobs/not-a-hash"));

        Assert.Equal(HttpStatusCode.PartialContent, ranged.StatusCode);
        Assert.Equal(data.AsSpan(1000, 1000).ToArray(), await ranged.Content.ReadAsByteArrayAsync());
        Assert.Equal($"\"{hash}\"", ranged.Headers.ETag?.Tag);
        Assert.Equal(hash, manifest.Hash);
        Assert.Equal(ChunkSize, manifest.ChunkSize);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    /// <summary>An IProgress that calls back on the reporting thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<TransferProgress> report) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => report(value);
    }
}
