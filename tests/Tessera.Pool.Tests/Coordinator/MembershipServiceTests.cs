using Microsoft.Extensions.Logging.Abstractions;
using Tessera.Pool.Coordinator;
using Tessera.Pool.Membership;
using Tessera.Pool.State;

namespace Tessera.Pool.Tests.Coordinator;

public sealed class MembershipServiceTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-membership-");
    private readonly ManualTime _time = new(new DateTimeOffset(2025, 3, 1, 8, 0, 0, TimeSpan.Zero));

    private sealed class ManualTime(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
        public void Advance(TimeSpan by) => Now += by;
    }

    private PoolStore OpenStore() => PoolStore.Open(Path.Combine(_dir.FullName, "pool.db"));

    private NodeRecord Joined(PoolStore store, MembershipService membership, string id)
    {
        var record = new NodeRecord(id, id, NodeState.Joining, false, "10.0.0.9", _time.Now, null, "fp", new Protocol.Hardware(), null);
        store.InsertNode(record, null);
        membership.AddJoined(record);
        return record;
    }

    private void Beat(MembershipService membership, string id, int times)
    {
        for (var i = 0; i < times; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            membership.Heartbeat(membership.Get(id)!, null, "10.0.0.9");
            membership.Evaluate(_time.Now);
        }
    }

    [Fact]
    public async Task SilentNode_GoesSuspectThenDown_AndEveryTransitionIsAnEvent()
    {
        using var store = OpenStore();
        await using var membership = new MembershipService(store, _time, NullLogger.Instance, FailureDetectorOptions.Default);
        Joined(store, membership, "node_a");

        Beat(membership, "node_a", 10);
        Assert.Equal("ready", membership.FindNode("node_a")!.State);

        var silence = TimeSpan.Zero;
        while (membership.FindNode("node_a")!.State != "down")
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            silence += TimeSpan.FromMilliseconds(250);
            membership.Evaluate(_time.Now);
        }

        Assert.InRange(silence.TotalSeconds, 2.0, 3.5);
        var transitions = store.ListEvents(nodeId: "node_a").Where(e => e.Kind == "node-state").Select(e => e.ToState).ToList();
        Assert.Equal(["ready", "suspect", "down"], transitions);
        Assert.Equal(NodeState.Down, store.GetNode("node_a")!.State);
    }

    // Found by JoinFuzzTests: a NaN from one agent made every GET /api/nodes break off (JSON has no NaN).
    [Fact]
    public async Task MeasurementsThatAreNotFinite_AreKeptAsNotMeasured_SoTheNodeListIsStillJson()
    {
        using var store = OpenStore();
        await using var membership = new MembershipService(store, _time, NullLogger.Instance, FailureDetectorOptions.Default);
        var hardware = new Protocol.Hardware { CpuSpeedGbps = double.NaN, Gpus = { new Protocol.Gpu { Index = 0, SpeedGbps = double.PositiveInfinity, UtilizationPercent = 40 } } };
        var record = new NodeRecord("node_a", "a", NodeState.Joining, false, "10.0.0.9", _time.Now, null, "fp", hardware, null);
        store.InsertNode(record, null);
        membership.AddJoined(record);

        membership.Heartbeat(membership.Get("node_a")!, new Protocol.Metrics { CpuBusyPercent = double.NaN, Gpus = { new Protocol.GpuMetrics { Index = 0, UtilizationPercent = double.NegativeInfinity } } }, "10.0.0.9");

        var node = Assert.Single(membership.ListNodes());
        Assert.Equal(0, node.Cpu.SpeedGBps);
        Assert.Equal(0, node.Cpu.BusyPercent);
        Assert.Equal((0, 0), (node.Gpus[0].SpeedGBps, node.Gpus[0].UtilizationPercent));
        Assert.Contains("\"node_a\"", System.Text.Json.JsonSerializer.Serialize(membership.ListNodes(), System.Text.Json.JsonSerializerOptions.Web));
        Assert.Equal(0, Assert.Single(membership.Snapshot()).CpuSpeedGBps);
    }

    [Fact]
    public async Task Gpus_ReachThePlannerWithTheirDeviceNames_AndTheFreeMemoryHeartbeatsSample()
    {
        using var store = OpenStore();
        await using var membership = new MembershipService(store, _time, NullLogger.Instance, FailureDetectorOptions.Default);
        var hardware = new Protocol.Hardware
        {
            Gpus =
            {
                new Protocol.Gpu { Index = 0, Name = "RTX", MemoryTotalBytes = 24L << 30, MemoryFreeBytes = 23L << 30, SpeedGbps = 900 },
                // a name that is not a plain word, one that names the CPU, one that takes another's index name: each becomes gpu + index
                new Protocol.Gpu { Index = 1, Device = "../etc", SpeedGbps = 400 },
                new Protocol.Gpu { Index = 2, Device = "cpu" },
                new Protocol.Gpu { Index = 3, Device = "gpu0" },
                new Protocol.Gpu { Index = 0, Name = "a second GPU 0" }, // dropped: no command could tell it from the first
                new Protocol.Gpu { Index = -1, Device = "stand-in", MemoryTotalBytes = 1L << 30, MemoryFreeBytes = 1L << 30, SpeedGbps = 50 },
            },
        };
        var record = new NodeRecord("node_a", "a", NodeState.Joining, false, "10.0.0.9", _time.Now, null, "fp", hardware, null);
        store.InsertNode(record, null);
        membership.AddJoined(record);

        membership.Heartbeat(membership.Get("node_a")!, new Protocol.Metrics { Gpus = { new Protocol.GpuMetrics { Index = 0, MemoryFreeBytes = 10L << 30 } } }, "10.0.0.9");

        var gpus = Assert.Single(membership.Snapshot()).Gpus;
        Assert.Equal(["gpu0", "gpu1", "gpu2", "gpu3", "stand-in"], gpus.Select(g => g.Device));
        Assert.Equal(new PoolGpu("gpu0", "RTX", 24L << 30, 10L << 30, 900), gpus[0]);
        Assert.Equal(1L << 30, gpus[4].MemoryFreeBytes); // no sample for it: the reported figure
        Assert.Equal(["gpu0", "gpu1", "gpu2", "gpu3", "stand-in"], Assert.Single(membership.ListNodes()).Gpus.Select(g => g.Device));
    }

    [Fact]
    public async Task ReturningNode_IsReadyAgain_AsTheSameNode()
    {
        using var store = OpenStore();
        await using var membership = new MembershipService(store, _time, NullLogger.Instance, FailureDetectorOptions.Default);
        Joined(store, membership, "node_a");
        Beat(membership, "node_a", 5);
        _time.Advance(TimeSpan.FromSeconds(15));
        membership.Evaluate(_time.Now);
        Assert.Equal("down", membership.FindNode("node_a")!.State);

        Beat(membership, "node_a", 1);

        Assert.Equal("ready", membership.FindNode("node_a")!.State);
        Assert.Single(membership.ListNodes());
    }

    [Fact]
    public async Task AfterARestart_NodesThatDoNotReconnect_GoDownWithinTheBound()
    {
        using (var store = OpenStore())
        {
            await using var membership = new MembershipService(store, _time, NullLogger.Instance, FailureDetectorOptions.Default);
            Joined(store, membership, "node_a");
            Joined(store, membership, "node_b");
            for (var i = 0; i < 3; i++)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
                membership.Heartbeat(membership.Get("node_a")!, null, "10.0.0.9");
                membership.Heartbeat(membership.Get("node_b")!, null, "10.0.0.9");
            }
        }

        _time.Advance(TimeSpan.FromMinutes(5));
        using var reopened = OpenStore();
        await using var restarted = new MembershipService(reopened, _time, NullLogger.Instance, FailureDetectorOptions.Default);
        Assert.Equal(["ready", "ready"], restarted.ListNodes().Select(n => n.State));

        for (var i = 0; i < 5; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            restarted.Heartbeat(restarted.Get("node_a")!, null, "10.0.0.9");
            restarted.Evaluate(_time.Now);
        }

        Assert.Equal("ready", restarted.FindNode("node_a")!.State);
        Assert.Equal("down", restarted.FindNode("node_b")!.State);
    }

    [Fact]
    public async Task Drain_ThenRemove_KeepTheDrainAcrossHeartbeatsAndEndInLeft()
    {
        using var store = OpenStore();
        await using var membership = new MembershipService(store, _time, NullLogger.Instance, FailureDetectorOptions.Default);
        Joined(store, membership, "node_a");
        Beat(membership, "node_a", 2);

        membership.Drain("node_a");
        Beat(membership, "node_a", 2);
        Assert.Equal("draining", membership.FindNode("node_a")!.State);

        membership.Remove("node_a");
        Beat(membership, "node_a", 2);
        Assert.Equal("left", membership.FindNode("node_a")!.State);
        Assert.Equal(NodeState.Left, store.GetNode("node_a")!.State);
    }

    [Fact]
    public async Task Flush_WritesTheLatestHeartbeatOfEachNode()
    {
        using var store = OpenStore();
        await using var membership = new MembershipService(store, _time, NullLogger.Instance, FailureDetectorOptions.Default);
        Joined(store, membership, "node_a");
        Beat(membership, "node_a", 3);

        membership.Flush();

        Assert.Equal(_time.Now, store.GetNode("node_a")!.LastHeartbeat);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Delete(true);
    }

    [Fact]
    public async Task AnAgentConnectingToALargePool_IsToldALongerInterval_AndItsDetectorExpectsIt()
    {
        using var store = OpenStore();
        // A budget of 2 heartbeats a second: a pool of 6 nodes asks for one every 3 s.
        var options = FailureDetectorOptions.Default with { MaxHeartbeatsPerSecond = 2 };
        await using var membership = new MembershipService(store, _time, NullLogger.Instance, options);
        foreach (var id in new[] { "node_a", "node_b", "node_c", "node_d", "node_e", "node_f" })
            Joined(store, membership, id);
        var node = membership.Get("node_a")!;

        membership.Connect(node, new Protocol.Hello { Name = "node_a" }, "10.0.0.9", new AgentOutbox());
        Assert.Equal(TimeSpan.FromSeconds(3), membership.HeartbeatInterval(node));

        // Beats every 3 s keep it ready (the default 1 s expectation would have made it suspect after 2 s).
        for (var i = 0; i < 10; i++)
        {
            for (var step = 0; step < 12; step++)
            {
                _time.Advance(TimeSpan.FromMilliseconds(250));
                membership.Evaluate(_time.Now);
            }
            Assert.Equal("ready", membership.FindNode("node_a")!.State);
            membership.Heartbeat(node, null, "10.0.0.9");
        }

        // Silent, it is down after a few intervals, not never.
        var silence = TimeSpan.Zero;
        while (membership.FindNode("node_a")!.State != "down")
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            silence += TimeSpan.FromMilliseconds(250);
            membership.Evaluate(_time.Now);
            Assert.True(silence < TimeSpan.FromSeconds(10), "a silent node told to beat every 3 s was not down after 10 s");
        }
        Assert.True(silence > TimeSpan.FromSeconds(3), $"down after {silence.TotalSeconds} s of silence, within one interval");
    }
}
