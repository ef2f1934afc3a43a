using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Tessera.Distribution;
using Tessera.Testing;

namespace Tessera.Distribution.Tests;

public sealed class TransferTrackerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ProgressOfATransfer_IsVisibleInTheApi()
    {
        // Arrange: a node serving a blob, and an agent tracking its fetch.
        var origin = new ContentStore(_dir.Combine("origin"));
        var data = TestData.Bytes(300_000);
        var hash = await TestData.PublishAsync(origin, _dir, data);
        var tracker = new TransferTracker();
        await using var server = await LocalServer.StartAsync(app =>
        {
            app.MapContentStore(origin, 64 << 10);
            app.MapTransferProgress(tracker);
        });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        var client = new TransferClient(http, new ContentStore(_dir.Combine("agent")));

        // Act
        var progress = tracker.Track("sha256:" + hash, node: "agent-1");
        await client.FetchAsync(hash, [server.Address], progress);
        tracker.Complete("sha256:" + hash);
        tracker.Track("sha256:other").Report(new TransferProgress("x", 10, 40, 5));
        using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri(server.Address, "transfers")));

        // Assert: the running one first, then the completed one.
        var items = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(2, items.Count);
        Assert.Equal("running", items[0].GetProperty("state").GetString());
        Assert.Equal(0.25, items[0].GetProperty("fraction").GetDouble());
        Assert.Equal("sha256:" + hash, items[1].GetProperty("id").GetString());
        Assert.Equal("completed", items[1].GetProperty("state").GetString());
        Assert.Equal(data.Length, items[1].GetProperty("bytesDone").GetInt64());
        Assert.Equal(data.Length, items[1].GetProperty("totalBytes").GetInt64());
        Assert.Equal("agent-1", items[1].GetProperty("node").GetString());
    }
}
