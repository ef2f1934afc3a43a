using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Tessera.Pool.Agent;
using Tessera.Pool.Client;
using Tessera.Pool.Coordinator;
using Tessera.Pool.Membership;
using Tessera.Pool.State;

namespace Tessera.Pool.Tests.Coordinator;

/// <summary>
/// The admin API's lists over HTTP from a real coordinator: pages in order with a Link header to the next one and none
/// on the last, bounded sizes, and a 400 that says what to send for a bad limit or cursor. Nodes are added to the
/// membership directly (as a join does after its certificate), so a pool of a thousand nodes costs milliseconds.
/// </summary>
public sealed class AdminApiPagingTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-paging-");
    private CoordinatorHost _host = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _host = await CoordinatorHost.StartAsync(new CoordinatorOptions { DataDirectory = new PoolDataDirectory(_dir.FullName), Listen = "127.0.0.1:0" },
            NullLoggerFactory.Instance, _time, CancellationToken.None);
        _http = new HttpClient(CoordinatorChannel.Handler(_host.Context.Authority.Certificate, null, _time)) { BaseAddress = new Uri("https://" + _host.Context.JoinAddress) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(_dir.FullName, "admin.key")).Trim());
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
        _dir.Delete(recursive: true);
    }

    /// <summary>Adds <paramref name="count"/> nodes, each a millisecond after the last, with <paramref name="gpus"/> GPUs each; returns their ids in join order.</summary>
    private List<string> AddNodes(int count, int gpus = 0)
    {
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(1));
            var hardware = new Protocol.Hardware { CpuModel = "cpu", LogicalCores = 4 };
            for (var g = 0; g < gpus; g++)
                hardware.Gpus.Add(new Protocol.Gpu { Index = g, Name = "gpu", MemoryTotalBytes = 1L << 30 });
            var id = $"node_{i:D6}";
            _host.Context.Membership.AddJoined(new NodeRecord(id, $"n{i}", NodeState.Joining, false, "10.0.0.1", _time.GetUtcNow(), null, "fp" + i, hardware, null));
            ids.Add(id);
        }
        return ids;
    }

    private async Task<(List<T> Items, string? Next)> GetPageAsync<T>(string path)
    {
        using var response = await _http.GetAsync(path);
        Assert.True(response.IsSuccessStatusCode, $"GET {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        var items = await response.Content.ReadFromJsonAsync<List<T>>(JsonSerializerOptions.Web);
        return (items!, PoolApiClient.NextLink(response));
    }

    /// <summary>Every page from <paramref name="first"/> on, following the Link headers; with the number of pages read.</summary>
    private async Task<(List<T> Items, int Pages)> FollowAsync<T>(string first)
    {
        var all = new List<T>();
        var pages = 0;
        for (string? path = first; path is not null; pages++)
        {
            Assert.True(pages < 100, "the pages did not end");
            var (items, next) = await GetPageAsync<T>(path);
            all.AddRange(items);
            path = next;
        }
        return (all, pages);
    }

    private async Task<string> BadRequestAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ErrorView>(JsonSerializerOptions.Web))!.Error;
    }

    [Fact]
    public async Task Nodes_ArePagedInJoinOrder_EachPageLinksTheNext_AndTheLastLinksNone()
    {
        var ids = AddNodes(7);

        var (first, next) = await GetPageAsync<NodeView>("/api/nodes?limit=3");
        Assert.Equal(ids[..3], first.Select(n => n.Id));
        Assert.Equal($"/api/nodes?limit=3&after={ids[2]}", next);

        var (second, last) = await GetPageAsync<NodeView>(next!);
        Assert.Equal(ids[3..6], second.Select(n => n.Id));
        var (third, none) = await GetPageAsync<NodeView>(last!);
        Assert.Equal(ids[6..], third.Select(n => n.Id));
        Assert.Null(none);

        // A page that ends exactly at the last node links nothing after it.
        var (exact, afterExact) = await GetPageAsync<NodeView>($"/api/nodes?limit=4&after={ids[2]}");
        Assert.Equal(ids[3..], exact.Select(n => n.Id));
        Assert.Null(afterExact);
    }

    [Fact]
    public async Task Nodes_WithoutLimit_ServeTheDefaultPage_ALargerLimitIsServedAsTheMaximum_AndTheClientReadsThemAll()
    {
        var ids = AddNodes(Page<NodeView>.MaxLimit + 5);

        var (defaultPage, next) = await GetPageAsync<NodeView>("/api/nodes");
        Assert.Equal(Page<NodeView>.DefaultLimit, defaultPage.Count);
        Assert.NotNull(next);
        var (largest, _) = await GetPageAsync<NodeView>("/api/nodes?limit=1000000");
        Assert.Equal(Page<NodeView>.MaxLimit, largest.Count);

        var (all, pages) = await FollowAsync<NodeView>("/api/nodes");
        Assert.Equal(ids, all.Select(n => n.Id));
        Assert.Equal(3, pages);
        using var client = PoolApiClient.Create(new PoolDataDirectory(_dir.FullName), null, null, _time);
        Assert.Equal(ids, (await client.GetNodesAsync(CancellationToken.None)).Select(n => n.Id));
        var page = await client.GetNodesPageAsync(ids[9], 2, CancellationToken.None);
        Assert.Equal(ids[10..12], page.Items.Select(n => n.Id));
        Assert.Equal(ids[11], page.Next);
    }

    [Theory]
    [InlineData("/api/nodes?limit=0", "limit=0")]
    [InlineData("/api/nodes?limit=-3", "limit=-3")]
    [InlineData("/api/nodes?limit=ten", "limit=ten")]
    [InlineData("/api/devices?limit=0", "limit=0")]
    [InlineData("/api/links?limit=1.5", "limit=1.5")]
    [InlineData("/api/events?limit=0", "limit=0")]
    [InlineData("/api/nodes?after=node_nobody", "'node_nobody' is not a node id")]
    [InlineData("/api/devices?after=node_nobody/cpu", "not a device id")]
    [InlineData("/api/devices?after=cpu", "not a device id")]
    [InlineData("/api/links?after=just-one-node", "not a link")]
    [InlineData("/api/events?after=yesterday", "after=yesterday is not an event id")]
    [InlineData("/api/events?order=desc&before=-1", "before=-1 is not an event id")]
    [InlineData("/api/events?order=sideways", "order=sideways")]
    public async Task ABadLimitOrCursor_IsA400ThatSaysWhatToSend(string path, string expected)
    {
        AddNodes(2);

        var error = await BadRequestAsync(path);

        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Devices_ArePagedByDevice_APageMayEndInsideANode_AndTheNextGoesOnFromThere()
    {
        var ids = AddNodes(3, gpus: 2);
        var expected = ids.SelectMany(id => new[] { id + "/cpu", id + "/gpu0", id + "/gpu1" }).ToList();

        var (first, next) = await GetPageAsync<DeviceView>("/api/devices?limit=4");
        Assert.Equal(expected[..4], first.Select(d => d.Id));
        Assert.Equal($"/api/devices?limit=4&after={Uri.EscapeDataString(expected[3])}", next);

        var (all, pages) = await FollowAsync<DeviceView>("/api/devices?limit=4");
        Assert.Equal(expected, all.Select(d => d.Id));
        Assert.Equal(3, pages);
    }

    [Fact]
    public async Task Events_ArePagedOldestFirstWithAfter_OrNewestFirstWithBefore_AndTheClientReadsTheLastOnesFromTheEnd()
    {
        var store = _host.Context.Store;
        for (var i = 0; i < 9; i++)
            store.AddEvent(_time.GetUtcNow(), "test", i % 3 == 0 ? "node_x" : null, $"event {i}");
        var ids = store.ListEvents(0, 1000).Select(e => e.Id).ToList();

        var (forward, forwardPages) = await FollowAsync<EventView>("/api/events?limit=4");
        Assert.Equal(ids, forward.Select(e => e.Id));
        Assert.Equal((ids.Count + 3) / 4, forwardPages);

        var (newest, older) = await GetPageAsync<EventView>("/api/events?order=desc&limit=3");
        Assert.Equal(ids[^3..].AsEnumerable().Reverse(), newest.Select(e => e.Id));
        Assert.Equal($"/api/events?order=desc&limit=3&before={ids[^3]}", older);
        var (backward, _) = await FollowAsync<EventView>("/api/events?order=desc&limit=3");
        Assert.Equal(ids.AsEnumerable().Reverse(), backward.Select(e => e.Id));

        using var client = PoolApiClient.Create(new PoolDataDirectory(_dir.FullName), null, null, _time);
        Assert.Equal(ids[^5..], (await client.GetLatestEventsAsync(5, null, CancellationToken.None)).Select(e => e.Id));
        var ofNode = await client.GetLatestEventsAsync(2, "node_x", CancellationToken.None);
        Assert.Equal(["event 3", "event 6"], ofNode.Select(e => e.Message));
    }

    [Fact]
    public async Task Links_ArePagedInFromToOrder_AndTheClientReadsThemAll()
    {
        var store = _host.Context.Store;
        var pairs = new List<string>();
        foreach (var from in new[] { "node_a", "node_b", "node_c" })
        {
            foreach (var to in new[] { "node_a", "node_b", "node_c" }.Where(t => t != from))
            {
                store.UpsertLink(new LinkRecord(from, to, 1, 0.1, 100, _time.GetUtcNow()));
                pairs.Add(from + "/" + to);
            }
        }

        var (all, pages) = await FollowAsync<LinkView>("/api/links?limit=4");

        Assert.Equal(pairs, all.Select(l => l.FromNodeId + "/" + l.ToNodeId));
        Assert.Equal(2, pages);
        using var client = PoolApiClient.Create(new PoolDataDirectory(_dir.FullName), null, null, _time);
        Assert.Equal(pairs, (await client.GetLinksAsync(CancellationToken.None)).Select(l => l.FromNodeId + "/" + l.ToNodeId));
    }

    [Fact]
    public async Task Stats_CountTheNodesInEachState_AsTheyChange()
    {
        var ids = AddNodes(3);
        var membership = _host.Context.Membership;
        membership.Heartbeat(membership.Get(ids[0])!, null, "10.0.0.1");
        membership.Heartbeat(membership.Get(ids[1])!, null, "10.0.0.1");
        membership.Drain(ids[1]);

        using var client = PoolApiClient.Create(new PoolDataDirectory(_dir.FullName), null, null, _time);
        var stats = await client.GetStatsAsync(CancellationToken.None);

        Assert.Equal(3, stats.Nodes);
        Assert.Equal(1, stats.States["ready"]);
        Assert.Equal(1, stats.States["draining"]);
        Assert.Equal(1, stats.States["joining"]);
        Assert.Equal(0, stats.States["down"]);
    }
}
