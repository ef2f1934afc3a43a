using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Tessera.Distribution;
using Tessera.Testing;

namespace Tessera.Distribution.Tests;

/// <summary>hf:// downloads against a local server that answers the way Hugging Face does.</summary>
public sealed class HuggingFaceDownloaderTests : FakeHubTests
{
    private HuggingFaceOptions Options(int attempts = 5, string? token = null, long maxDownload = HuggingFaceOptions.DefaultMaxDownloadBytes) => new()
    {
        Endpoint = Hub.Endpoint,
        Token = token,
        MaxAttempts = attempts,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        StallTimeout = TimeSpan.FromSeconds(10),
        MaxDownloadBytes = maxDownload,
    };

    private ContentStore Store(long maxBytes = long.MaxValue) => new(Dir.Combine("cache"), maxBytes);

    [Fact]
    public async Task Download_OfAnLfsFile_FollowsTheRedirectVerifiesTheSha256AndPublishes()
    {
        // Arrange
        var data = TestData.Bytes(1_500_000);
        Hub.Add("acme/tiny-GGUF", "main", "models/tiny.Q4_0.gguf", new(data, Lfs: true));
        var store = Store();
        using var downloader = new HuggingFaceDownloader(store, Options());
        var reports = new List<TransferProgress>();

        // Act
        var result = await downloader.DownloadAsync("hf://acme/tiny-GGUF/models/tiny.Q4_0.gguf", new SyncProgress(reports.Add));

        // Assert
        Assert.Equal(ContentHash.Of(data), result.Hash);
        Assert.Equal(data, await File.ReadAllBytesAsync(result.Path));
        Assert.False(result.FromCache);
        Assert.Equal(data.Length, reports[^1].BytesDone);
        Assert.Equal(data.Length, reports[^1].TotalBytes);
        Assert.True(store.TryGetRef("hf://acme/tiny-GGUF/models/tiny.Q4_0.gguf", out var recorded));
        Assert.Equal(result.Hash, recorded);

        // A second pull finds it in the cache: one HEAD, no download.
        var cdnBefore = Hub.CdnRequests.Count;
        var again = await downloader.DownloadAsync("hf://acme/tiny-GGUF/models/tiny.Q4_0.gguf");
        Assert.True(again.FromCache);
        Assert.Equal(cdnBefore, Hub.CdnRequests.Count);
    }

    [Fact]
    public async Task Download_WhenTheConnectionDropsMidFile_ResumesWithARangeRequest()
    {
        // Arrange: the CDN cuts the first two connections after 300 000 bytes.
        var data = TestData.Bytes(2_000_000);
        Hub.Add("acme/m", "main", "m.gguf", new(data, Lfs: true));
        var drops = 0;
        Hub.CdnFault = (context, _) => Interlocked.Increment(ref drops) <= 2 ? new FaultyStream(context.Response.Body, context, dropAfter: 300_000) : null;
        using var downloader = new HuggingFaceDownloader(Store(), Options());

        // Act
        var result = await downloader.DownloadAsync("hf://acme/m/m.gguf");

        // Assert: three GETs, the later two resuming from where the previous stopped.
        Assert.Equal(data, await File.ReadAllBytesAsync(result.Path));
        var ranges = Hub.CdnRequests.Select(r => r.Range).ToList();
        Assert.Equal(3, ranges.Count);
        Assert.Equal("", ranges[0]);
        var starts = ranges.Skip(1).Select(r => long.Parse(r["bytes=".Length..r.IndexOf('-')])).ToList();
        Assert.All(starts, s => Assert.True(s > 0));
        Assert.True(starts[1] >= starts[0], string.Join(", ", ranges)); // never goes backwards
    }

    [Fact]
    public async Task Download_InterruptedForGood_KeepsThePartialAndTheNextRunResumes()
    {
        var data = TestData.Bytes(1_000_000);
        Hub.Add("acme/m", "main", "m.gguf", new(data, Lfs: true));
        var broken = true;
        Hub.CdnFault = (context, _) => Volatile.Read(ref broken) ? new FaultyStream(context.Response.Body, context, dropAfter: 400_000) : null;

        using (var first = new HuggingFaceDownloader(Store(), Options(attempts: 1)))
        {
            var error = await Assert.ThrowsAsync<TransferInterruptedException>(() => first.DownloadAsync("hf://acme/m/m.gguf"));
            Assert.Contains("run the same command again to resume", error.Message);
            Assert.True(error.BytesDone > 0);
        }

        Volatile.Write(ref broken, false);
        using var second = new HuggingFaceDownloader(Store(), Options());
        var result = await second.DownloadAsync("hf://acme/m/m.gguf");

        Assert.Equal(data, await File.ReadAllBytesAsync(result.Path));
        Assert.StartsWith("bytes=", Hub.CdnRequests.Last().Range);
        Assert.NotEqual("bytes=0-", Hub.CdnRequests.Last().Range);
    }

    [Fact]
    public async Task Download_WithAWrongChecksum_FailsAndPublishesNothing()
    {
        var data = TestData.Bytes(300_000);
        var wrong = ContentHash.Of(TestData.Bytes(10, seed: 5)).Hex;
        Hub.Add("acme/m", "main", "m.gguf", new(data, Lfs: true, AdvertisedSha256: wrong));
        var store = Store();
        using var downloader = new HuggingFaceDownloader(store, Options());

        var error = await Assert.ThrowsAsync<ChecksumMismatchException>(() => downloader.DownloadAsync("hf://acme/m/m.gguf"));

        Assert.Contains("checksum mismatch", error.Message);
        Assert.Equal(wrong, error.Expected.Hex);
        Assert.Equal(0, store.Count);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(store.Root, "partial")));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(store.Root, "blobs", "sha256")));
    }

    [Fact]
    public async Task Download_OfAMissingFile_SaysFileNotFoundOnHuggingFace()
    {
        using var downloader = new HuggingFaceDownloader(Store(), Options());

        var error = await Assert.ThrowsAsync<HuggingFaceException>(() => downloader.DownloadAsync("hf://acme/m/nope.gguf"));

        Assert.StartsWith("file not found on Hugging Face: nope.gguf in acme/m", error.Message);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, error.StatusCode);
    }

    [Fact]
    public async Task Download_OfAGatedFileWithoutAToken_SaysToSetHfToken()
    {
        Hub.Add("acme/gated", "main", "m.gguf", new(TestData.Bytes(1000), Lfs: true));
        Hub.RequiredToken = "hf_secret";
        using var downloader = new HuggingFaceDownloader(Store(), Options());

        var error = await Assert.ThrowsAsync<HuggingFaceException>(() => downloader.DownloadAsync("hf://acme/gated/m.gguf"));

        Assert.Contains("needs a token: set HF_TOKEN", error.Message);
    }

    [Fact]
    public async Task Download_WithAToken_SendsItToTheHubButNotToTheCdn()
    {
        var data = TestData.Bytes(50_000);
        Hub.Add("acme/gated", "main", "m.gguf", new(data, Lfs: true));
        Hub.RequiredToken = "hf_secret";
        using var downloader = new HuggingFaceDownloader(Store(), Options(token: "hf_secret"));

        var result = await downloader.DownloadAsync("hf://acme/gated/m.gguf");

        Assert.Equal(data, await File.ReadAllBytesAsync(result.Path));
        Assert.All(Hub.HubRequests, r => Assert.EndsWith("auth=Bearer hf_secret", r));
        Assert.All(Hub.CdnRequests, r => Assert.Equal("", r.Authorization));
    }

    [Fact]
    public async Task Download_OfARevisionAndANonLfsFile_UsesTheRevisionAndHashesTheContent()
    {
        var data = "{\"architectures\":[\"LlamaForCausalLM\"]}"u8.ToArray();
        Hub.Add("acme/m", "v1.0", "config.json", new(data, Lfs: false));
        using var downloader = new HuggingFaceDownloader(Store(), Options());

        var result = await downloader.DownloadAsync("hf://acme/m@v1.0/config.json");

        Assert.Equal(ContentHash.Of(data), result.Hash);
        Assert.Equal(data, await File.ReadAllBytesAsync(result.Path));
    }

    [Fact]
    public async Task Download_AnnouncedLargerThanTheLimit_IsRefusedBeforeAnyByteIsRequested()
    {
        // Arrange: the hub announces 300 000 bytes; the limit is 299 999.
        var data = TestData.Bytes(300_000);
        Hub.Add("acme/big", "main", "m.gguf", new(data, Lfs: true));
        var store = Store();
        using var downloader = new HuggingFaceDownloader(store, Options(maxDownload: data.Length - 1));

        // Act
        var error = await Assert.ThrowsAsync<DownloadTooLargeException>(() => downloader.DownloadAsync("hf://acme/big/m.gguf"));

        // Assert: refused from the HEAD's metadata alone; the CDN was never asked.
        Assert.Contains("hf://acme/big/m.gguf is 300000 bytes, more than the download limit of 299999 bytes (--max-download)", error.Message);
        Assert.Equal(data.Length, error.Size);
        Assert.Equal(data.Length - 1, error.Limit);
        Assert.Empty(Hub.CdnRequests);
        AssertNothingKept(store);

        // A file exactly at the limit is not over it.
        using var exact = new HuggingFaceDownloader(store, Options(maxDownload: data.Length));
        Assert.Equal(data, await File.ReadAllBytesAsync((await exact.DownloadAsync("hf://acme/big/m.gguf")).Path));
    }

    [Fact]
    public async Task Download_LargerThanTheStoreCanEverHold_IsRefusedAndSaysWhichLimit()
    {
        var data = TestData.Bytes(300_000);
        Hub.Add("acme/big", "main", "m.gguf", new(data, Lfs: true));
        var store = Store(maxBytes: 200_000);
        using var downloader = new HuggingFaceDownloader(store, Options());

        var error = await Assert.ThrowsAsync<DownloadTooLargeException>(() => downloader.DownloadAsync("hf://acme/big/m.gguf"));

        Assert.Contains("more than the 200000 bytes the content store may hold (--cache-limit): it could never stay there", error.Message);
        Assert.Equal(200_000, error.Limit);
        Assert.Empty(Hub.CdnRequests);
        AssertNothingKept(store);
    }

    [Fact]
    public async Task Download_UnannouncedChunkedBodyOverTheLimit_IsStoppedPublishesNothingAndLeavesTheStoreIntact()
    {
        // Arrange: one file already in the store; then a file whose size nobody announces, sent chunked, 2 MB against a 300 000-byte limit.
        var kept = TestData.Bytes(50_000, seed: 2);
        Hub.Add("acme/small", "main", "s.gguf", new(kept, Lfs: true));
        Hub.Add("acme/endless", "main", "m.gguf", new(TestData.Bytes(2_000_000), Lfs: true, AdvertisedSize: -1, Chunked: true));
        var store = Store();
        using var downloader = new HuggingFaceDownloader(store, Options(maxDownload: 300_000));
        var before = await downloader.DownloadAsync("hf://acme/small/s.gguf");

        // Act
        var error = await Assert.ThrowsAsync<DownloadTooLargeException>(() => downloader.DownloadAsync("hf://acme/endless/m.gguf"));

        // Assert: stopped at the limit, not retried, nothing of it kept; the earlier file is untouched.
        Assert.Contains("the server's response is larger than 300000 bytes, the download limit (--max-download), and the file's size was not announced", error.Message);
        Assert.InRange(error.Size, 300_001, 2_000_000);
        Assert.Equal(2, Hub.CdnRequests.Count);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(store.Root, "partial")));
        Assert.Equal(1, store.Count);
        Assert.Equal(before.Path, await store.TryGetVerifiedAsync(before.Hash));
        Assert.Equal(kept, await File.ReadAllBytesAsync(before.Path));
        Assert.Equal([before.Path], Directory.EnumerateFiles(Path.Combine(store.Root, "blobs", "sha256")));
    }

    [Fact]
    public async Task Download_UnannouncedChunkedBodyWithinTheLimit_IsPublished()
    {
        var data = TestData.Bytes(200_000);
        Hub.Add("acme/m", "main", "m.gguf", new(data, Lfs: true, AdvertisedSize: -1, Chunked: true));
        using var downloader = new HuggingFaceDownloader(Store(), Options(maxDownload: 300_000));

        var result = await downloader.DownloadAsync("hf://acme/m/m.gguf");

        Assert.Equal(data, await File.ReadAllBytesAsync(result.Path));
    }

    [Fact]
    public async Task Download_BodyLongerThanAnnounced_IsStoppedAndPublishesNothing()
    {
        // The hub announces 100 000 bytes; the CDN streams 1 MB without a Content-Length.
        Hub.Add("acme/liar", "main", "m.gguf", new(TestData.Bytes(1_000_000), Lfs: true, AdvertisedSize: 100_000, Chunked: true));
        var store = Store();
        using var downloader = new HuggingFaceDownloader(store, Options());

        var error = await Assert.ThrowsAsync<DownloadTooLargeException>(() => downloader.DownloadAsync("hf://acme/liar/m.gguf"));

        Assert.Contains("the server's response is larger than the 100000 bytes announced for the file", error.Message);
        Assert.Equal(100_000, error.Limit);
        Assert.Single(Hub.CdnRequests);
        AssertNothingKept(store);
    }

    [Fact]
    public async Task Download_ContentLengthLargerThanAnnounced_IsRefusedBeforeTheBodyIsRead()
    {
        // The hub announces 1 000 bytes; the CDN answers with Content-Length: 300000.
        var data = TestData.Bytes(300_000);
        Hub.Add("acme/liar", "main", "m.gguf", new(data, Lfs: true, AdvertisedSize: 1_000));
        var store = Store();
        using var downloader = new HuggingFaceDownloader(store, Options());

        var error = await Assert.ThrowsAsync<DownloadTooLargeException>(() => downloader.DownloadAsync("hf://acme/liar/m.gguf"));

        // The size reported is the one the header declared: the refusal came from the header, not from bytes read.
        Assert.Contains("the server's response is larger than the 1000 bytes announced", error.Message);
        Assert.Equal(data.Length, error.Size);
        AssertNothingKept(store);
    }

    [Fact]
    public async Task Download_OfAnInvalidReference_SendsNoRequest()
    {
        using var downloader = new HuggingFaceDownloader(Store(), Options());

        await Assert.ThrowsAsync<FormatException>(() => downloader.DownloadAsync("hf://acme/m/%2e%2e/%2e%2e/x.gguf"));
        await Assert.ThrowsAsync<FormatException>(() => downloader.DownloadAsync(new HuggingFaceUri("acme", "m", "../../x.gguf", "main")));

        Assert.Empty(Hub.HubRequests);
    }

    [Fact]
    public async Task Download_RedirectedToANonHttpAddress_IsRefused()
    {
        await using var hub = await LocalServer.StartAsync(app =>
            app.MapMethods("/{**path}", [HttpMethods.Get, HttpMethods.Head], () => Results.Redirect("file:///etc/passwd")));
        var options = Options();
        options.Endpoint = hub.Address;
        using var redirected = new HuggingFaceDownloader(Store(), options);

        var error = await Assert.ThrowsAsync<HuggingFaceException>(() => redirected.DownloadAsync("hf://acme/m/m.gguf"));

        Assert.Contains("not an http(s) address; refused", error.Message);
    }

    private static void AssertNothingKept(ContentStore store)
    {
        Assert.Equal(0, store.Count);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(store.Root, "partial")));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(store.Root, "blobs", "sha256")));
    }

    [Theory]
    [InlineData("\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"", true)]
    [InlineData("W/\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"", true)]
    [InlineData("\"0123456789abcdef0123456789abcdef01234567\"", false)]
    [InlineData("\"0123456789abcdef0123456789abcdef-12\"", false)]
    public void EtagHash_AcceptsOnlySha256(string etag, bool isSha)
    {
        Assert.Equal(isSha, HuggingFaceDownloader.HashFrom(etag) is not null);
    }

    private sealed class SyncProgress(Action<TransferProgress> report) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => report(value);
    }
}
