using Tessera.Engine.Gguf;
using Tessera.Testing;

namespace Tessera.Distribution.Tests;

/// <summary>
/// Models named by repository and tag, split models and offline use, against a local server that answers as the hub
/// does: the repository is listed, the tagged file (or every part of a split set) downloaded and named in the store.
/// </summary>
public sealed class HuggingFaceModelTests : FakeHubTests
{
    private HuggingFaceOptions Options(bool offline = false, string? token = null) => new()
    {
        Endpoint = Hub.Endpoint, Token = token, Offline = offline, RetryDelay = TimeSpan.FromMilliseconds(10), StallTimeout = TimeSpan.FromSeconds(10),
    };

    private ContentStore Store() => new(Dir.Combine("cache"));

    private void AddRepo(string repo, params (string File, byte[] Data)[] files)
    {
        foreach (var (file, data) in files)
            Hub.Add(repo, "main", file, new(data, Lfs: true));
    }

    [Fact]
    public async Task ATag_DownloadsTheFileOfThatQuantization_NamedInTheStore()
    {
        var q4 = TestData.Bytes(1000, seed: 1);
        AddRepo("acme/tiny-GGUF", ("tiny.Q4_0.gguf", q4), ("tiny.Q8_0.gguf", TestData.Bytes(2000, seed: 2)), ("README.md", [1]));
        var store = Store();
        using var downloader = new HuggingFaceDownloader(store, Options(token: "hf_secret"));

        var model = await downloader.DownloadModelAsync("hf://acme/tiny-GGUF:q4_0");

        var part = Assert.Single(model.Parts);
        Assert.Equal(ContentHash.Of(q4), part.Hash);
        Assert.Equal(Path.Combine(store.NameDirectory, "acme", "tiny-GGUF", "main", "tiny.Q4_0.gguf"), model.Path);
        Assert.Equal(q4, await File.ReadAllBytesAsync(model.Path));
        Assert.Contains(Hub.HubRequests, r => r.StartsWith("GET /api/models/acme/tiny-GGUF auth=Bearer hf_secret", StringComparison.Ordinal));
        Assert.Equal(["tiny.Q4_0.gguf"], store.ListNames("acme/tiny-GGUF/main"));
    }

    [Fact]
    public async Task ATagNoFileCarries_IsAnErrorListingWhatThereIs()
    {
        AddRepo("acme/tiny-GGUF", ("tiny.Q4_0.gguf", [1]), ("tiny.Q8_0.gguf", [2]));
        using var downloader = new HuggingFaceDownloader(Store(), Options());

        var e = await Assert.ThrowsAsync<HuggingFaceException>(() => downloader.DownloadModelAsync("hf://acme/tiny-GGUF:Q5_K_M"));

        Assert.Equal("hf://acme/tiny-GGUF:Q5_K_M: no GGUF model of the repository is Q5_K_M; there are: Q4_0, Q8_0.", e.Message);
        Assert.Empty(Hub.CdnRequests);
    }

    [Fact]
    public async Task AMissingRepository_IsAnErrorSayingSo()
    {
        using var downloader = new HuggingFaceDownloader(Store(), Options());

        var e = await Assert.ThrowsAsync<HuggingFaceException>(() => downloader.DownloadModelAsync("hf://acme/nothing:Q4_0"));

        Assert.StartsWith("repository not found on Hugging Face: acme/nothing.", e.Message);
    }

    [Fact]
    public async Task ASplitModel_IsDownloadedWhole_AndOpensAsOneFromTheStore()
    {
        // Arrange: tiny-a split by gguf-split into three parts, published in a folder of the repository
        var parts = GgufSplitWriter.Split(TestPaths.Model("tiny-a-q8_0.gguf"), Dir.Combine("tiny-a-Q8_0"), 3);
        AddRepo("acme/tiny-a-GGUF", parts.Select(p => ("Q8_0/" + Path.GetFileName(p), File.ReadAllBytes(p))).ToArray());
        var store = Store();
        using var downloader = new HuggingFaceDownloader(store, Options());

        // Act: named by any of its parts, or by its tag
        var byPart = await downloader.DownloadModelAsync("hf://acme/tiny-a-GGUF/Q8_0/tiny-a-Q8_0-00002-of-00003.gguf");
        var byTag = await downloader.DownloadModelAsync("hf://acme/tiny-a-GGUF:Q8_0");

        // Assert
        Assert.Equal(3, byPart.Parts.Count);
        Assert.Equal(parts.Select(p => ContentHash.Of(File.ReadAllBytes(p))), byPart.Parts.Select(p => p.Hash));
        Assert.True(byTag.FromCache);
        Assert.Equal(byPart.Path, byTag.Path);
        Assert.EndsWith("tiny-a-Q8_0-00001-of-00003.gguf", byTag.Path);
        using var whole = GgufFile.Open(TestPaths.Model("tiny-a-q8_0.gguf"));
        using var split = GgufFile.Open(byTag.Path);
        Assert.Equal(3, split.PartPaths.Count);
        Assert.Equal(whole.Tensors.Select(t => t.Name), split.Tensors.Select(t => t.Name));
    }

    [Fact]
    public async Task Offline_NothingIsAsked_ACachedFileIsUsed_AndAnUncachedOneIsAnErrorNamingHfHubOffline()
    {
        var data = TestData.Bytes(1000);
        AddRepo("acme/tiny-GGUF", ("tiny.Q4_0.gguf", data));
        var store = Store();
        using (var online = new HuggingFaceDownloader(store, Options()))
            await online.DownloadModelAsync("hf://acme/tiny-GGUF/tiny.Q4_0.gguf");
        var asked = Hub.HubRequests.Count;
        using var offline = new HuggingFaceDownloader(Store(), Options(offline: true));

        var cached = await offline.DownloadModelAsync("hf://acme/tiny-GGUF:Q4_0");
        var missing = await Assert.ThrowsAsync<HuggingFaceException>(() => offline.DownloadModelAsync("hf://acme/tiny-GGUF/tiny.Q8_0.gguf"));
        var missingRepo = await Assert.ThrowsAsync<HuggingFaceException>(() => offline.DownloadModelAsync("hf://acme/other:Q4_0"));

        Assert.True(cached.FromCache);
        Assert.Equal(data, await File.ReadAllBytesAsync(cached.Path));
        Assert.Contains("HF_HUB_OFFLINE is set", missing.Message);
        Assert.Contains("HF_HUB_OFFLINE is set", missingRepo.Message);
        Assert.Equal(asked, Hub.HubRequests.Count);
    }

    [Fact]
    public async Task TheFinder_UsesAFileInHuggingFacesCache_WithoutDownloadingIt()
    {
        // Arrange: the tagged file is in a Hugging Face cache laid out as huggingface_hub writes it
        AddRepo("acme/tiny-GGUF", ("tiny.Q4_0.gguf", TestData.Bytes(100, seed: 1)), ("tiny.Q8_0.gguf", TestData.Bytes(100, seed: 2)));
        var hub = Dir.Combine("hf-hub");
        var snapshot = Path.Combine(hub, "models--acme--tiny-GGUF", "snapshots", FakeHuggingFace.Commit);
        Directory.CreateDirectory(snapshot);
        File.Copy(TestPaths.Model("tiny-a-q8_0.gguf"), Path.Combine(snapshot, "tiny.Q8_0.gguf"));
        Directory.CreateDirectory(Path.Combine(hub, "models--acme--tiny-GGUF", "refs"));
        File.WriteAllText(Path.Combine(hub, "models--acme--tiny-GGUF", "refs", "main"), FakeHuggingFace.Commit);
        var store = Store();
        var onDisk = DiskModels.Find(new ModelLocations(hub, null, [], store.Root));
        using var downloader = new HuggingFaceDownloader(store, Options());

        // Act
        var online = await HuggingFaceModelFinder.FindOrDownloadAsync("hf://acme/tiny-GGUF:Q8_0", onDisk, downloader, offline: false);
        var offline = await HuggingFaceModelFinder.FindOrDownloadAsync("hf://acme/tiny-GGUF:Q8_0", onDisk, downloader, offline: true);

        // Assert
        Assert.Equal(Path.Combine(snapshot, "tiny.Q8_0.gguf"), online);
        Assert.Equal(online, offline);
        Assert.Empty(Hub.CdnRequests);
        var e = await Assert.ThrowsAsync<HuggingFaceException>(() => HuggingFaceModelFinder.FindOrDownloadAsync("hf://acme/tiny-GGUF:Q4_0", onDisk, downloader, offline: true));
        Assert.Contains("no GGUF model of the repository is Q4_0; there are: Q8_0", e.Message);
    }
}
