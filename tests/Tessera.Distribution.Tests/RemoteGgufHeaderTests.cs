using Tessera.Distribution;
using Tessera.Engine.Gguf;
using Tessera.Testing;

namespace Tessera.Distribution.Tests;

/// <summary>A model on the hub read for its header only (for `tessera plan`), against a local server that answers as Hugging Face does.</summary>
public sealed class RemoteGgufHeaderTests : FakeHubTests
{
    private HuggingFaceDownloader Downloader() => new(new ContentStore(Dir.Combine("cache")), new HuggingFaceOptions
    {
        Endpoint = Hub.Endpoint,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        StallTimeout = TimeSpan.FromSeconds(10),
    });

    [Theory]
    [InlineData(4 << 20)] // the default first read: the header fits in it
    [InlineData(16 << 10)] // smaller than the header: read again, four times larger each time
    public async Task TheHeader_IsReadWithoutTheWeights_AndOpensAsTheWholeFileDoes(int firstRead)
    {
        var model = TestPaths.Model("tiny-a-q8_0.gguf");
        Hub.Add("acme/tiny-a-GGUF", "main", "tiny-a-Q8_0.gguf", new(await File.ReadAllBytesAsync(model), Lfs: true));
        using var downloader = Downloader();

        var path = await RemoteGgufHeader.FetchAsync(downloader, HuggingFaceUri.Parse("hf://acme/tiny-a-GGUF/tiny-a-Q8_0.gguf"), Dir.Combine("headers"), firstRead, CancellationToken.None);

        using var original = GgufFile.Open(model);
        using var header = GgufFile.Open(path);
        Assert.Equal(new FileInfo(model).Length, new FileInfo(path).Length);
        Assert.Equal(original.DataOffset, header.DataOffset);
        Assert.Equal(original.Tensors.Select(t => (t.Name, t.Type, t.ShapeText, t.FileOffset)), header.Tensors.Select(t => (t.Name, t.Type, t.ShapeText, t.FileOffset)));
        Assert.Equal(original.Metadata.GetString("tokenizer.ggml.model"), header.Metadata.GetString("tokenizer.ggml.model"));
        // Only prefixes were asked for, each a range from 0, none reaching the weights' end.
        var ranges = Hub.CdnRequests.Select(r => r.Range).ToList();
        Assert.NotEmpty(ranges);
        Assert.All(ranges, r => Assert.StartsWith("bytes=0-", r));
        Assert.All(ranges, r => Assert.True(long.Parse(r["bytes=0-".Length..]) < new FileInfo(model).Length / 2, r));
        Assert.Equal(firstRead < original.DataOffset ? (int)Math.Ceiling(Math.Log(original.DataOffset / (double)firstRead, 4)) + 1 : 1, ranges.Count);
    }

    [Fact]
    public async Task AFileThatIsNotAGguf_IsRefusedAtOnce_NamingTheHubAddress()
    {
        Hub.Add("acme/junk", "main", "junk.gguf", new(TestData.Bytes(3 << 20), Lfs: true));
        using var downloader = Downloader();

        var error = await Assert.ThrowsAsync<GgufFormatException>(() =>
            RemoteGgufHeader.FetchAsync(downloader, HuggingFaceUri.Parse("hf://acme/junk/junk.gguf"), Dir.Combine("headers"), 64 << 10, CancellationToken.None));

        Assert.Contains("hf://acme/junk/junk.gguf", error.Message);
        Assert.Single(Hub.CdnRequests);
        Assert.Empty(Directory.EnumerateFiles(Dir.Combine("headers")));
    }
}
