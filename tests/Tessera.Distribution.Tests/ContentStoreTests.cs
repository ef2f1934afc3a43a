using Tessera.Distribution;

namespace Tessera.Distribution.Tests;

public sealed class ContentStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Publish_WithMatchingHash_MovesTheFileUnderBlobsAndCountsItsSize()
    {
        // Arrange
        var store = new ContentStore(_dir.Combine("cache"));
        var data = TestData.Bytes(100_000);
        var partial = store.GetPartialPath(ContentHash.Of(data));
        await File.WriteAllBytesAsync(partial, data);

        // Act
        var hash = await store.PublishAsync(partial, ContentHash.Of(data), "test");

        // Assert
        Assert.Equal(ContentHash.Of(data), hash);
        Assert.True(store.TryGet(hash, out var path));
        Assert.Equal(Path.Combine(store.Root, "blobs", "sha256", hash.Hex), path);
        Assert.Equal(data, await File.ReadAllBytesAsync(path));
        Assert.False(File.Exists(partial));
        Assert.Equal(data.Length, store.TotalBytes);
        Assert.Equal(1, store.Count);
    }

    [Fact]
    public async Task Publish_WithWrongHash_ThrowsAndKeepsNothing()
    {
        var store = new ContentStore(_dir.Combine("cache"));
        var data = TestData.Bytes(5000);
        var claimed = ContentHash.Of(TestData.Bytes(5000, seed: 2));
        var partial = store.GetPartialPath(claimed);
        await File.WriteAllBytesAsync(partial, data);

        var error = await Assert.ThrowsAsync<ChecksumMismatchException>(() => store.PublishAsync(partial, claimed, "test"));

        Assert.Equal(claimed, error.Expected);
        Assert.Equal(ContentHash.Of(data), error.Actual);
        Assert.False(File.Exists(partial));
        Assert.False(store.TryGet(claimed, out _));
        Assert.False(store.TryGet(ContentHash.Of(data), out _));
        Assert.Equal(0, store.TotalBytes);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(store.Root, "blobs", "sha256")));
    }

    [Fact]
    public async Task Reopen_FindsPublishedBlobsAndTheirSizes()
    {
        var root = _dir.Combine("cache");
        var first = new ContentStore(root);
        var a = await TestData.PublishAsync(first, _dir, TestData.Bytes(3000, 1));
        var b = await TestData.PublishAsync(first, _dir, TestData.Bytes(7000, 2));

        var second = new ContentStore(root);

        Assert.True(second.Contains(a));
        Assert.True(second.Contains(b));
        Assert.Equal(10_000, second.TotalBytes);
    }

    [Fact]
    public async Task OverBudget_EvictsLeastRecentlyUsedFirst()
    {
        // Arrange: a budget of 25 000 bytes and three 10 000-byte blobs, the first used again before the third arrives.
        var time = new ManualTimeProvider();
        var store = new ContentStore(_dir.Combine("cache"), maxBytes: 25_000, timeProvider: time);
        var a = await TestData.PublishAsync(store, _dir, TestData.Bytes(10_000, 1));
        time.Advance(TimeSpan.FromMinutes(1));
        var b = await TestData.PublishAsync(store, _dir, TestData.Bytes(10_000, 2));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.True(store.TryGet(a, out _));
        time.Advance(TimeSpan.FromMinutes(1));

        // Act
        var c = await TestData.PublishAsync(store, _dir, TestData.Bytes(10_000, 3));

        // Assert: b was the least recently used.
        Assert.True(store.Contains(a));
        Assert.False(store.Contains(b));
        Assert.True(store.Contains(c));
        Assert.False(File.Exists(store.GetBlobPath(b)));
        Assert.Equal(20_000, store.TotalBytes);
    }

    [Fact]
    public async Task PinnedBlob_IsNotEvicted()
    {
        var time = new ManualTimeProvider();
        var store = new ContentStore(_dir.Combine("cache"), maxBytes: 15_000, timeProvider: time);
        var a = await TestData.PublishAsync(store, _dir, TestData.Bytes(10_000, 1));
        time.Advance(TimeSpan.FromMinutes(1));
        using (store.Pin(a))
        {
            var b = await TestData.PublishAsync(store, _dir, TestData.Bytes(10_000, 2));

            // Over budget, but a is pinned and b is the newest: both stay.
            Assert.True(store.Contains(a));
            Assert.True(store.Contains(b));
        }

        time.Advance(TimeSpan.FromMinutes(1));
        store.EnsureSpace();
        Assert.False(store.Contains(a));
        Assert.Equal(10_000, store.TotalBytes);
    }

    [Fact]
    public async Task HeldBlob_SurvivesEvictionAndRestarts_AndGoesWithItsLastHolder()
    {
        var time = new ManualTimeProvider();
        var root = _dir.Combine("cache");
        var store = new ContentStore(root, maxBytes: 15_000, timeProvider: time);
        var data = TestData.Bytes(10_000, 1);
        var (held, size) = await store.AddHeldAsync(new MemoryStream(data), "batch-file:a");
        await store.AddHeldAsync(new MemoryStream(data), "batch-file:b"); // same bytes, a second holder, one blob
        Assert.Equal((ContentHash.Of(data), 10_000L), (held, size));
        Assert.Equal(1, store.Count);
        Assert.Empty(Directory.EnumerateFiles(store.PartialDirectory));

        // A second instance (another process, or after a restart) sees the hold on disk and never evicts the blob.
        time.Advance(TimeSpan.FromMinutes(1));
        var other = new ContentStore(root, maxBytes: 15_000, timeProvider: time);
        var newer = await TestData.PublishAsync(other, _dir, TestData.Bytes(10_000, 2));
        other.EnsureSpace();
        Assert.False(other.Contains(newer)); // over budget, the only blob that may go is the one not held
        Assert.True(other.Contains(held));
        Assert.True(other.IsHeld(held));
        Assert.True(store.Contains(held));

        // Released by one holder it stays for the other; released by both it goes at once, budget or not.
        Assert.False(store.Release(held, "batch-file:a"));
        Assert.True(store.IsHeld(held));
        Assert.True(store.TryGet(held, out _));
        Assert.True(store.Release(held, "batch-file:b"));
        Assert.False(store.IsHeld(held));
        Assert.False(store.Contains(held));
        Assert.False(File.Exists(store.GetBlobPath(held)));
    }

    [Fact]
    public async Task AddHeld_OfAStreamThatFails_LeavesNothingBehind()
    {
        var store = new ContentStore(_dir.Combine("cache"));
        await Assert.ThrowsAsync<IOException>(() => store.AddHeldAsync(new BreaksAfter(TestData.Bytes(50_000), 20_000), "batch-file:x"));
        Assert.Equal(0, store.Count);
        Assert.Empty(Directory.EnumerateFiles(store.PartialDirectory));
        Assert.False(Directory.Exists(store.HoldDirectory) && Directory.EnumerateFileSystemEntries(store.HoldDirectory).Any());
    }

    [Fact]
    public async Task ConcurrentImportsOfTheSameContent_PublishOneBlob()
    {
        var store = new ContentStore(_dir.Combine("cache"));
        var data = TestData.Bytes(200_000);
        var paths = Enumerable.Range(0, 8).Select(i => TestData.WriteFile(_dir, $"copy{i}", data)).ToList();

        var hashes = await Task.WhenAll(paths.Select(p => Task.Run(() => store.ImportAsync(p))));

        Assert.All(hashes, h => Assert.Equal(ContentHash.Of(data), h));
        Assert.Equal(1, store.Count);
        Assert.Equal(data.Length, store.TotalBytes);
    }

    [Fact]
    public async Task Manifest_HashesEveryChunkAndRoundTripsThroughJson()
    {
        var store = new ContentStore(_dir.Combine("cache"));
        var data = TestData.Bytes(8192 * 3 + 1234);
        var hash = await TestData.PublishAsync(store, _dir, data);

        var manifest = await store.GetManifestAsync(hash, chunkSize: 8192);
        var again = ChunkManifest.FromJson(manifest.ToJson());

        Assert.Equal(hash, manifest.Hash);
        Assert.Equal(data.Length, manifest.Size);
        Assert.Equal(4, manifest.ChunkCount);
        for (var i = 0; i < 4; i++)
        {
            var (offset, length) = manifest.GetChunk(i);
            Assert.Equal(ContentHash.Of(data.AsSpan((int)offset, length)), manifest.Chunks[i]);
        }
        Assert.Equal(1234, manifest.GetChunk(3).Length);
        Assert.Equal(manifest.Chunks, again.Chunks);
        Assert.Equal(manifest.Hash, again.Hash);
    }

    [Fact]
    public async Task Manifest_OfAChunkSizeThatIsNotAPowerOfTwo_IsRefused_SoClientsCannotForceEndlessRehashing()
    {
        var store = new ContentStore(_dir.Combine("cache"));
        var hash = await TestData.PublishAsync(store, _dir, TestData.Bytes(50_000));

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.GetManifestAsync(hash, chunkSize: 10_000));
        Assert.True(ChunkManifest.IsAllowedChunkSize(ChunkManifest.DefaultChunkSize));
        Assert.Empty(Directory.GetFiles(Path.Combine(store.Root, "manifests")));
    }

    [Fact]
    public async Task ManyClientsAskingForOneManifestAtOnce_GetTheSameOne_FromOneComputation()
    {
        var store = new ContentStore(_dir.Combine("cache"));
        var data = TestData.Bytes(4 << 20);
        var hash = await TestData.PublishAsync(store, _dir, data);

        var manifests = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => store.GetManifestAsync(hash, chunkSize: 65536))));

        Assert.All(manifests, m => Assert.Equal(manifests[0].Chunks, m.Chunks));
        // One computation wrote one file (each computation writes its own temporary file before the rename).
        Assert.Single(Directory.GetFiles(Path.Combine(store.Root, "manifests")));
        Assert.Equal(ContentHash.Of(data.AsSpan(0, 65536)), manifests[0].Chunks[0]);
    }

    [Fact]
    public async Task ABlobCorruptedWhileTheStoreWasClosed_IsCheckedOnFirstUse_AndRemoved_EvenWithACachedManifest()
    {
        var root = _dir.Combine("cache");
        var first = new ContentStore(root);
        var intact = await TestData.PublishAsync(first, _dir, TestData.Bytes(40_000, seed: 1));
        var damaged = await TestData.PublishAsync(first, _dir, TestData.Bytes(40_000, seed: 2));
        await first.GetManifestAsync(damaged, chunkSize: 8192); // cached on disk

        // a bit flips on disk while nothing runs
        var path = first.GetBlobPath(damaged);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[123] ^= 0x40;
        await File.WriteAllBytesAsync(path, bytes);

        var reopened = new ContentStore(root);
        Assert.Equal(first.GetBlobPath(intact), await reopened.TryGetVerifiedAsync(intact));
        await Assert.ThrowsAsync<ChecksumMismatchException>(() => reopened.GetManifestAsync(damaged, chunkSize: 8192));
        Assert.False(reopened.Contains(damaged));
        Assert.False(File.Exists(path));

        var again = new ContentStore(root);
        Assert.Null(await again.TryGetVerifiedAsync(damaged));
    }

    [Fact]
    public async Task TryGetVerified_OfACorruptedBlob_RemovesIt()
    {
        var root = _dir.Combine("cache");
        var hash = await TestData.PublishAsync(new ContentStore(root), _dir, TestData.Bytes(10_000));
        var path = new ContentStore(root).GetBlobPath(hash);
        await File.WriteAllBytesAsync(path, TestData.Bytes(10_000, seed: 99));

        var reopened = new ContentStore(root);

        Assert.Null(await reopened.TryGetVerifiedAsync(hash));
        Assert.False(reopened.Contains(hash));
    }

    [Fact]
    public void Refs_RecordWhichHashANameResolvesTo()
    {
        var store = new ContentStore(_dir.Combine("cache"));
        var hash = ContentHash.Of([1, 2, 3]);

        store.SetRef("hf://owner/repo/model.gguf", hash);

        Assert.True(store.TryGetRef("hf://owner/repo/model.gguf", out var found));
        Assert.Equal(hash, found);
        Assert.False(store.TryGetRef("hf://owner/repo/other.gguf", out _));
    }

    [Theory]
    [InlineData("sha256:ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789", true)]
    [InlineData("abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678", false)]
    [InlineData("zzcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", false)]
    public void ContentHash_ParsesSha256HexOnly(string text, bool valid)
    {
        Assert.Equal(valid, ContentHash.TryParse(text, out var hash));
        if (valid)
            Assert.Equal(text[7..].ToLowerInvariant(), hash.Hex);
    }

    /// <summary>A readable stream that fails like a dropped upload once <paramref name="limit"/> bytes were read.</summary>
    private sealed class BreaksAfter(byte[] data, int limit) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (Position >= limit)
                throw new IOException("connection reset (test)");
            return base.Read(buffer, offset, (int)Math.Min(count, limit - Position));
        }

        public override int Read(Span<byte> buffer)
        {
            var chunk = new byte[buffer.Length];
            var read = Read(chunk, 0, chunk.Length);
            chunk.AsSpan(0, read).CopyTo(buffer);
            return read;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));
    }
}
