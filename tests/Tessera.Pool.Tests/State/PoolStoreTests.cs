using Tessera.Identity;
using Tessera.Pool.Membership;
using Tessera.Pool.Security;
using Tessera.Pool.State;
using Tessera.Storage;

namespace Tessera.Pool.Tests.State;

public sealed class PoolStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-store-");

    private string DbPath => Path.Combine(_dir.FullName, "pool.db");

    private static NodeRecord Node(string id, string name = "box") => new(
        id, name, NodeState.Joining, false, "127.0.0.1", T0, null, "ab",
        new Protocol.Hardware { CpuModel = "Test CPU", LogicalCores = 8, RamTotalBytes = 16L << 30 }, null);

    [Fact]
    public void Open_UsesWalMode()
    {
        using var store = PoolStore.Open(DbPath);

        Assert.Equal("wal", store.JournalMode());
    }

    [Fact]
    public void Tokens_SurviveReopeningAndRevocation()
    {
        using (var store = PoolStore.Open(DbPath))
        {
            store.InsertToken(new TokenRecord("tok_a", Secrets.Hash("x"), T0, T0.AddHours(24), null, "for the laptop", 0));
            Assert.True(store.RevokeToken("tok_a", T0.AddHours(1)));
            Assert.False(store.RevokeToken("tok_missing", T0));
        }

        using var reopened = PoolStore.Open(DbPath);
        var token = reopened.GetToken("tok_a")!;

        Assert.Equal(T0.AddHours(1), token.RevokedAt);
        Assert.Equal("for the laptop", token.Description);
        Assert.Equal(Secrets.Hash("x"), token.SecretHash);
        Assert.Single(reopened.ListTokens());
    }

    [Fact]
    public void InsertNode_RecordsAJoinEventAndCountsTheTokenUse()
    {
        using var store = PoolStore.Open(DbPath);
        store.InsertToken(new TokenRecord("tok_a", "h", T0, T0.AddHours(1), null, "", 0));

        store.InsertNode(Node("node_1"), "tok_a");

        Assert.Equal(1, store.GetToken("tok_a")!.Uses);
        var joined = Assert.Single(store.ListEvents(), e => e.Kind == "node-joined");
        Assert.Equal("node_1", joined.NodeId);
        Assert.Equal("Test CPU", store.GetNode("node_1")!.Hardware.CpuModel);
    }

    [Fact]
    public void TransitionNode_StoresTheStateAndOneEventPerChange()
    {
        using var store = PoolStore.Open(DbPath);
        store.InsertNode(Node("node_1"), null);

        Assert.True(store.TransitionNode("node_1", NodeState.Joining, NodeState.Ready, false, T0.AddSeconds(1), "first heartbeat"));
        Assert.False(store.TransitionNode("node_1", NodeState.Ready, NodeState.Ready, false, T0.AddSeconds(2), "again"));
        Assert.True(store.TransitionNode("node_1", NodeState.Ready, NodeState.Down, false, T0.AddSeconds(5), "silent"));

        var transitions = store.ListEvents(nodeId: "node_1").Where(e => e.Kind == "node-state").ToList();
        Assert.Equal(["joining->ready", "ready->down"], transitions.Select(e => $"{e.FromState}->{e.ToState}"));
        Assert.Equal(NodeState.Down, store.GetNode("node_1")!.State);
    }

    [Fact]
    public void WriteHeartbeats_StoresTheLatestMetricsInOneBatch()
    {
        using var store = PoolStore.Open(DbPath);
        store.InsertNode(Node("node_1"), null);
        store.InsertNode(Node("node_2", "other"), null);

        store.WriteHeartbeats([
            new HeartbeatUpdate("node_1", T0.AddSeconds(3), "10.0.0.1", new Protocol.Metrics { RamFreeBytes = 123 }),
            new HeartbeatUpdate("node_2", T0.AddSeconds(4), "10.0.0.2", null),
        ]);

        var node = store.GetNode("node_1")!;
        Assert.Equal(T0.AddSeconds(3), node.LastHeartbeat);
        Assert.Equal(123, node.Metrics!.RamFreeBytes);
        Assert.Equal("10.0.0.2", store.GetNode("node_2")!.Address);
    }

    [Fact]
    public void FindNode_ByNameOrId()
    {
        using var store = PoolStore.Open(DbPath);
        store.InsertNode(Node("node_1", "gpu-box"), null);
        store.InsertNode(Node("node_2", "twin"), null);
        store.InsertNode(Node("node_3", "twin"), null);

        Assert.Equal("node_1", store.FindNode("gpu-box")!.Id);
        Assert.Equal("node_2", store.FindNode("node_2")!.Id);
        Assert.Null(store.FindNode("nobody"));
        Assert.Contains("use the node id", Assert.Throws<PoolException>(() => store.FindNode("twin")).Message);
    }

    [Fact]
    public void Links_AreUpsertedPerPair()
    {
        using var store = PoolStore.Open(DbPath);

        store.UpsertLink(new LinkRecord("a", "b", 1.5, 3.0, 940, T0));
        store.UpsertLink(new LinkRecord("a", "b", 0.9, 2.0, 941, T0.AddSeconds(1)));

        var link = Assert.Single(store.ListLinks());
        Assert.Equal(0.9, link.RttMs);
    }

    [Fact]
    public void Meta_IsKeptAcrossReopen()
    {
        using (var store = PoolStore.Open(DbPath))
            store.SetMeta("pool_id", "pool_x");

        using var reopened = PoolStore.Open(DbPath);
        Assert.Equal("pool_x", reopened.GetMeta("pool_id"));
        Assert.Equal(PoolSchema.Version, PoolSchema.VersionOf(reopened.Database));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Delete(true);
    }
}
