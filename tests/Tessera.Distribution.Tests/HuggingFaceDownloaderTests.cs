using Tessera.Distribution;

namespace Tessera.Distribution.Tests;

/// <summary>hf:// downloads against a local server that answers the way Hugging Face does.</summary>
public sealed class HuggingFaceDownloaderTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private FakeHuggingFace _hf = null!;

    public async Task InitializeAsync() => _hf = await FakeHuggingFace.StartAsync();

    public async Task DisposeAsync()
    {
        await _hf.DisposeAsync();
        _dir.Dispose();
    }

    private HuggingFaceOptions Options(int attempts = 5, string? token = null) => new()
    {
        Endpoint = _hf.Endpoint,
        Token = token,
        MaxAttempts = attempts,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        StallTimeout = TimeSpan.FromSeconds(10),
    };

    private ContentStore Store() => new(_dir.Combine("cache"));

    [Fact]
    public async Task Download_OfAnLfsFile_FollowsTheRedirectVerifiesTheSha256AndPublishes()
    {
        // Arrange
        var data = TestData.Bytes(1_500_000);
        _hf.Add("acme/tiny-GGUF", "main", "models/tiny.Q4_0.gguf", new(data, Lfs: true));
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
        var cdnBefore = _hf.CdnRequests.Count;
        var again = await downloader.DownloadAsync("hf://acme/tiny-GGUF/models/tiny.Q4_0.gguf");
        Assert.True(again.FromCache);
        Assert.Equal(cdnBefore, _hf.CdnRequests.Count);
    }

    [Fact]
    public async Task Download_WhenTheConnectionDropsMidFile_ResumesWithARangeRequest()
    {
        // Arrange: the CDN cuts the first two connections after 300 000 bytes.
        var data = TestData.Bytes(2_000_000);
        _hf.Add("acme/m", "main", "m.gguf", new(data, Lfs: true));
        var drops = 0;
        _hf.CdnFault = (context, _) => Interlocked.Increment(ref drops) <= 2 ? new FaultyStream(context.Response.Body, context, dropAfter: 300_000) : null;
        using var downloader = new HuggingFaceDownloader(Store(), Options());

        // Act
        var result = await downloader.DownloadAsync("hf://acme/m/m.gguf");

        // Assert: three GETs, the later two resuming from where the previous stopped.
        Assert.Equal(data, await File.ReadAllBytesAsync(result.Path));
        var ranges = _hf.CdnRequests.Select(r => r.Range).ToList();
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
        _hf.Add("acme/m", "main", "m.gguf", new(data, Lfs: true));
        var broken = true;
        _hf.CdnFault = (context, _) => Volatile.Read(ref broken) ? new FaultyStream(context.Response.Body, context, dropAfter: 400_000) : null;

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
        Assert.StartsWith("bytes=", _hf.CdnRequests.Last().Range);
        Assert.NotEqual("bytes=0-", _hf.CdnRequests.Last().Range);
    }

    [Fact]
    public async Task Download_WithAWrongChecksum_FailsAndPublishesNothing()
    {
        var data = TestData.Bytes(300_000);
        var wrong = ContentHash.Of(TestData.Bytes(10, seed: 5)).Hex;
        _hf.Add("acme/m", "main", "m.gguf", new(data, Lfs: true, AdvertisedSha256: wrong));
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
        _hf.Add("acme/gated", "main", "m.gguf", new(TestData.Bytes(1000), Lfs: true));
        _hf.RequiredToken = "hf_secret";
        using var downloader = new HuggingFaceDownloader(Store(), Options());

        var error = await Assert.ThrowsAsync<HuggingFaceException>(() => downloader.DownloadAsync("hf://acme/gated/m.gguf"));

        Assert.Contains("needs a token: set HF_TOKEN", error.Message);
    }

    [Fact]
    public async Task Download_WithAToken_SendsItToTheHubButNotToTheCdn()
    {
        var data = TestData.Bytes(50_000);
        _hf.Add("acme/gated", "main", "m.gguf", new(data, Lfs: true));
        _hf.RequiredToken = "hf_secret";
        using var downloader = new HuggingFaceDownloader(Store(), Options(token: "hf_secret"));

        var result = await downloader.DownloadAsync("hf://acme/gated/m.gguf");

        Assert.Equal(data, await File.ReadAllBytesAsync(result.Path));
        Assert.All(_hf.HubRequests, r => Assert.EndsWith("auth=Bearer hf_secret", r));
        Assert.All(_hf.CdnRequests, r => Assert.Equal("", r.Authorization));
    }

    [Fact]
    public async Task Download_OfARevisionAndANonLfsFile_UsesTheRevisionAndHashesTheContent()
    {
        var data = "{\"architectures\":[\"LlamaForCausalLM\"]}"u8.ToArray();
        _hf.Add("acme/m", "v1.0", "config.json", new(data, Lfs: false));
        using var downloader = new HuggingFaceDownloader(Store(), Options());

        var result = await downloader.DownloadAsync("hf://acme/m@v1.0/config.json");

        Assert.Equal(ContentHash.Of(data), result.Hash);
        Assert.Equal(data, await File.ReadAllBytesAsync(result.Path));
    }

    [Theory]
    [InlineData("hf://owner/repo/file.gguf", "owner", "repo", "file.gguf", "main")]
    [InlineData("hf://owner/repo/sub/dir/file.gguf", "owner", "repo", "sub/dir/file.gguf", "main")]
    [InlineData("hf://owner/repo@v2/file.gguf", "owner", "repo", "file.gguf", "v2")]
    [InlineData("hf://owner/repo/file.gguf@abc123", "owner", "repo", "file.gguf", "abc123")]
    [InlineData("hf://owner/repo@refs%2Fpr%2F3/file.gguf", "owner", "repo", "file.gguf", "refs/pr/3")]
    public void Parse_ReadsOwnerRepositoryPathAndRevision(string text, string owner, string repo, string file, string revision)
    {
        var uri = HuggingFaceUri.Parse(text);

        Assert.Equal(new HuggingFaceUri(owner, repo, file, revision), uri);
    }

    [Theory]
    [InlineData("https://huggingface.co/owner/repo/file.gguf")]
    [InlineData("hf://owner/repo")]
    [InlineData("hf://owner//file.gguf")]
    [InlineData("hf://owner/repo/../file.gguf")]
    public void Parse_RejectsWhatIsNotAFileInARepository(string text)
    {
        var error = Assert.Throws<FormatException>(() => HuggingFaceUri.Parse(text));
        Assert.Contains("hf://owner/repo/file.gguf", error.Message);
    }

    [Fact]
    public void ResolveUrl_EscapesTheRevision()
    {
        var uri = HuggingFaceUri.Parse("hf://o/r@refs%2Fpr%2F3/a b/f.gguf");

        Assert.Equal("https://huggingface.co/o/r/resolve/refs%2Fpr%2F3/a%20b/f.gguf", uri.ResolveUrl(HuggingFaceOptions.DefaultEndpoint).AbsoluteUri);
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
