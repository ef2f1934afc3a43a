using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Tessera.Identity;
using Tessera.Pool.Client;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Pool.State;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// Membership: who is in the pool and in which state. Heartbeats update memory (and are written to
/// SQLite in batches); the failure detector is evaluated on a timer; every state transition is
/// written at once, with an event. After a coordinator restart every node that was alive gets a
/// fresh detector, so it is declared down within the bound unless its agent reconnects.
/// </summary>
public sealed class MembershipService : IAsyncDisposable
{
    private readonly PoolStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly FailureDetectorOptions _detectorOptions;
    private readonly ConcurrentDictionary<string, LiveNode> _nodes = new();

    // Every node in join order (joined at, then id), kept sorted as nodes join: the order of every listing, so a page
    // of the node list is a binary search and a copy of the page, not a sort of the whole pool on every call.
    private readonly List<LiveNode> _byJoin = [];
    private readonly Lock _byJoinGate = new();

    // Nodes per state, changed with each transition: what /api/stats reports, so a client that wants to know how many
    // nodes are ready asks for a count instead of listing the pool.
    private readonly int[] _stateCounts = new int[Enum.GetValues<NodeState>().Length];
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _loops = [];
    private long _connectionIds;
    private long _heartbeats;

    public MembershipService(PoolStore store, TimeProvider time, ILogger logger, FailureDetectorOptions detectorOptions)
    {
        _store = store;
        _time = time;
        _logger = logger;
        _detectorOptions = detectorOptions;
        var now = time.GetUtcNow();
        foreach (var record in store.ListNodes())
        {
            var node = new LiveNode(record.Id, record.Name, record.State, record.Drained, record.JoinedAt, record.CertificateFingerprint, record.Hardware)
            {
                Labels = record.Labels ?? new Dictionary<string, string>(),
                Metrics = record.Metrics,
                Address = record.Address,
                LastHeartbeat = record.LastHeartbeat,
                DetectorOptions = detectorOptions,
            };
            if (NodeLifecycle.IsMonitored(record.State))
                node.Detector = new PhiAccrualFailureDetector(detectorOptions, now);
            _nodes[record.Id] = node;
            _byJoin.Add(node);
            _stateCounts[(int)record.State]++;
        }
        _byJoin.Sort(JoinOrder.Instance);
        RefreshRevocations();
    }

    /// <summary>Certificates of removed nodes: refused by the coordinator, the stages it drives and, once sent, every agent's stages.</summary>
    public CertificateRevocations Revocations { get; } = new();

    private void RefreshRevocations() =>
        Revocations.Replace(_nodes.Values.Where(n => { lock (n.Gate) return n.State == NodeState.Left; }).Select(n => n.CertificateFingerprint));

    private Command RevocationCommand()
    {
        var revoke = new RevokeCertificatesCommand();
        revoke.Fingerprints.Add(Revocations.Fingerprints);
        return new Command { CommandId = Secrets.NewId("cmd_"), RevokeCertificates = revoke };
    }

    public FailureDetectorOptions DetectorOptions => _detectorOptions;

    /// <summary>The heartbeat interval <paramref name="node"/> was told at its last connection.</summary>
    internal TimeSpan HeartbeatInterval(LiveNode node)
    {
        lock (node.Gate)
            return node.DetectorOptions.HeartbeatInterval;
    }

    public long HeartbeatsApplied => Interlocked.Read(ref _heartbeats);

    public int NodeCount => _nodes.Count;

    /// <summary>How many nodes are in each state now.</summary>
    public IReadOnlyDictionary<NodeState, int> StateCounts() =>
        Enum.GetValues<NodeState>().ToDictionary(s => s, s => Volatile.Read(ref _stateCounts[(int)s]));

    /// <summary>Starts the detector and flush loops.</summary>
    public void Start(TimeSpan tick, TimeSpan flushInterval)
    {
        _loops.Add(RunLoopAsync(tick, () => Evaluate(_time.GetUtcNow())));
        _loops.Add(RunLoopAsync(flushInterval, Flush));
    }

    private async Task RunLoopAsync(TimeSpan period, Action action)
    {
        using var timer = new PeriodicTimer(period, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    action();
                }
                catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
                {
                    _logger.LogHeartbeatFlushFailed(ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    internal void AddJoined(NodeRecord record)
    {
        var node = new LiveNode(record.Id, record.Name, record.State, record.Drained, record.JoinedAt, record.CertificateFingerprint, record.Hardware)
        {
            Labels = record.Labels ?? new Dictionary<string, string>(),
            Address = record.Address,
            Detector = new PhiAccrualFailureDetector(_detectorOptions, _time.GetUtcNow()),
            DetectorOptions = _detectorOptions,
        };
        if (!_nodes.TryAdd(record.Id, node))
            throw new InvalidOperationException($"Node {record.Id} is already a member.");
        Interlocked.Increment(ref _stateCounts[(int)record.State]);
        lock (_byJoinGate)
        {
            // Joins arrive in time order, so this is almost always an append.
            var at = _byJoin.BinarySearch(node, JoinOrder.Instance);
            _byJoin.Insert(at < 0 ? ~at : at, node);
        }
    }

    internal LiveNode? Get(string nodeId) => _nodes.GetValueOrDefault(nodeId);

    internal bool IsNameTaken(string name) => _nodes.Values.Any(n => n.Name == name && n.State != NodeState.Left);

    /// <summary>
    /// Registers the agent's stream; returns the connection id to pass back on disconnect. The node is given the
    /// heartbeat interval for the pool's size now (<see cref="FailureDetectorOptions.IntervalFor"/>), which its welcome
    /// carries; when that differs from the interval it had, its detector starts afresh with the new one, as the old
    /// history would make every longer gap look like a failure.
    /// </summary>
    internal long Connect(LiveNode node, Hello hello, string address, AgentOutbox outbox)
    {
        var id = Interlocked.Increment(ref _connectionIds);
        var interval = _detectorOptions.IntervalFor(_nodes.Count);
        AgentOutbox? previous;
        lock (node.Gate)
        {
            if (node.DetectorOptions.HeartbeatInterval != interval)
            {
                node.DetectorOptions = _detectorOptions.ForInterval(interval);
                node.Detector = null; // seeded by the heartbeat that the hello counts as, below
            }
            previous = node.Outbox;
            node.Outbox = outbox;
            node.ConnectionId = id;
            if (!string.IsNullOrWhiteSpace(hello.Name))
                node.Name = hello.Name;
            if (hello.Hardware is not null)
                node.Hardware = hello.Hardware;
            node.Address = address;
            node.ProbeEndpoint = hello.AdvertisedEndpoint;
            _store.UpdateNodeHardware(node.Id, node.Name, address, node.Hardware);
            // The agent's stages refuse removed nodes from the start (it may have missed changes while away).
            if (Revocations.Count > 0)
                outbox.TryWrite(new CoordinatorMessage { Command = RevocationCommand() });
        }
        previous?.TryComplete();
        _logger.LogNodeConnected(node.Name, node.Id, address);
        Heartbeat(node, null, address);
        return id;
    }

    internal void Disconnect(LiveNode node, long connectionId, string reason)
    {
        lock (node.Gate)
        {
            if (node.ConnectionId != connectionId)
                return;
            node.Outbox = null;
            node.Stages = [];
        }
        _logger.LogNodeDisconnected(node.Id, reason);
    }

    /// <summary>Applies a heartbeat; returns the node's state after it.</summary>
    internal NodeState Heartbeat(LiveNode node, Metrics? metrics, string address)
    {
        var now = _time.GetUtcNow();
        Interlocked.Increment(ref _heartbeats);
        IReadOnlyList<StageFigures>? stages = null;
        if (metrics is not null)
        {
            // Stage figures live in memory only: the database keeps the machine's metrics, not counters of stages long gone.
            stages = StageFigures.From(metrics.Stages);
            metrics.Stages.Clear();
        }
        lock (node.Gate)
        {
            if (node.State == NodeState.Left)
                return node.State;
            node.Detector ??= new PhiAccrualFailureDetector(node.DetectorOptions, now);
            node.Detector.Heartbeat(now);
            node.LastHeartbeat = now;
            if (metrics is not null)
            {
                node.Metrics = metrics;
                node.Stages = stages!;
            }
            node.Address = address;
            node.Dirty = true;
            var next = NodeLifecycle.OnHeartbeat(node.State, node.Drained);
            if (next != node.State)
                TransitionLocked(node, next, now, node.State == NodeState.Joining ? "first heartbeat" : "heartbeats resumed");
            return node.State;
        }
    }

    /// <summary>Evaluates the failure detector of every monitored node at <paramref name="now"/>.</summary>
    public void Evaluate(DateTimeOffset now)
    {
        foreach (var node in _nodes.Values)
        {
            lock (node.Gate)
            {
                if (node.Detector is null || !NodeLifecycle.IsMonitored(node.State))
                    continue;
                var verdict = node.Detector.Evaluate(now);
                var next = NodeLifecycle.OnVerdict(node.State, verdict);
                if (next != node.State)
                {
                    var silence = now - node.Detector.LastHeartbeat;
                    var phi = node.Detector.Phi(now);
                    TransitionLocked(node, next, now, $"no heartbeat for {silence.TotalSeconds:0.0} s (phi {phi:0.0})");
                }
            }
        }
    }

    /// <summary>Writes the latest heartbeat of every node that had one since the last flush.</summary>
    public void Flush()
    {
        var batch = new List<HeartbeatUpdate>();
        foreach (var node in _nodes.Values)
        {
            lock (node.Gate)
            {
                if (!node.Dirty || node.LastHeartbeat is null)
                    continue;
                node.Dirty = false;
                batch.Add(new HeartbeatUpdate(node.Id, node.LastHeartbeat.Value, node.Address, node.Metrics));
            }
        }
        _store.WriteHeartbeats(batch);
    }

    /// <summary>Sends a command to a node's agent; false when it is not connected.</summary>
    public bool TrySendCommand(string nodeId, Command command)
    {
        var node = Get(nodeId);
        if (node is null)
            return false;
        lock (node.Gate)
            return node.Outbox?.TryWrite(new CoordinatorMessage { Command = command }) ?? false;
    }

    /// <summary>Asks a node to drain: no new work is placed on it.</summary>
    public NodeView Drain(string nodeId)
    {
        var node = Get(nodeId) ?? throw new PoolException($"No node {nodeId}.");
        lock (node.Gate)
        {
            if (node.State == NodeState.Left)
                throw new PoolException($"Node {node.Name} ({node.Id}) has left the pool; it cannot be drained.");
            node.Drained = true;
            var next = NodeLifecycle.OnDrain(node.State);
            if (next != node.State)
                TransitionLocked(node, next, _time.GetUtcNow(), "drained by an administrator");
            else
                _store.TransitionNode(node.Id, node.State, node.State, true, _time.GetUtcNow(), "drained");
            node.Outbox?.TryWrite(new CoordinatorMessage { Command = new Command { CommandId = Secrets.NewId("cmd_"), Drain = new DrainCommand() } });
            return View(node);
        }
    }

    /// <summary>
    /// Removes a node: it becomes 'left' (committed durably first), its certificate is revoked everywhere (the
    /// coordinator at once, every connected agent's stages within a round trip) and its agent is told to exit.
    /// </summary>
    public NodeView Remove(string nodeId)
    {
        var node = Get(nodeId) ?? throw new PoolException($"No node {nodeId}.");
        NodeView view;
        lock (node.Gate)
        {
            if (node.State != NodeState.Left)
                TransitionLocked(node, NodeState.Left, _time.GetUtcNow(), "removed by an administrator");
            node.Detector = null;
            var outbox = node.Outbox;
            node.Outbox = null;
            if (outbox is not null)
            {
                outbox.TryWrite(new CoordinatorMessage { Command = new Command { CommandId = Secrets.NewId("cmd_"), Leave = new LeaveCommand { Reason = "removed by an administrator" } } });
                outbox.TryComplete();
            }
            view = View(node);
        }
        RefreshRevocations();
        _store.DeleteLinks(nodeId); // the planner must not route through a machine that left
        var command = RevocationCommand();
        foreach (var other in _nodes.Values)
        {
            lock (other.Gate)
                other.Outbox?.TryWrite(new CoordinatorMessage { Command = command });
        }
        return view;
    }

    private void TransitionLocked(LiveNode node, NodeState next, DateTimeOffset now, string reason)
    {
        var previous = node.State;
        node.State = next;
        Interlocked.Decrement(ref _stateCounts[(int)previous]);
        Interlocked.Increment(ref _stateCounts[(int)next]);
        _store.TransitionNode(node.Id, previous, next, node.Drained, now, reason);
        _logger.LogNodeStateChanged(node.Name, node.Id, previous.ToWire(), next.ToWire(), reason);
    }

    /// <summary>Every node now, typed (states as <see cref="NodeState"/>), in the order they joined.</summary>
    public IReadOnlyList<PoolNode> Snapshot() =>
        InJoinOrder(null, int.MaxValue).Select(n => { lock (n.Gate) return Typed(n); }).ToList();

    /// <summary>
    /// Up to <paramref name="count"/> nodes in join order, after the node <paramref name="after"/> (from the first when
    /// null): a copy, taken under the order's lock, of the references only; each node is read later under its own lock.
    /// </summary>
    /// <exception cref="PoolException">No node has the id <paramref name="after"/>.</exception>
    private List<LiveNode> InJoinOrder(string? after, int count)
    {
        LiveNode? cursor = null;
        if (after is not null && !_nodes.TryGetValue(after, out cursor))
            throw new PoolException($"'{after}' is not a node id, so it cannot be the cursor of a page of nodes: pass after=ID with the id of the last node of the previous page, as the Link header's next URL does.", exitCode: 2);
        lock (_byJoinGate)
        {
            var start = 0;
            if (cursor is not null)
            {
                // A node that joined a moment ago may be in _nodes before it is here: its place is where it will go.
                var at = _byJoin.BinarySearch(cursor, JoinOrder.Instance);
                start = at < 0 ? ~at : at + 1;
            }
            return _byJoin.GetRange(start, (int)Math.Min(count, (long)_byJoin.Count - start));
        }
    }

    private static PoolNode Typed(LiveNode n) => new(n.Id, n.Name, n.State, n.Drained, n.Outbox is not null, n.Address,
        n.Metrics?.RamFreeBytes ?? n.Hardware.RamFreeBytes, n.Hardware.CpuSpeedGbps)
    {
        ProbeEndpoint = n.ProbeEndpoint,
        LastHeartbeat = n.LastHeartbeat,
        Stages = n.Stages,
        Gpus = n.Hardware.Gpus.Select(g => new PoolGpu(g.Device, g.Name, g.MemoryTotalBytes, GpuFree(g, n.Metrics), g.SpeedGbps)).ToList(),
    };

    /// <summary>A GPU's free memory as last sampled (heartbeats), else as reported at join or hello.</summary>
    private static long GpuFree(Protocol.Gpu gpu, Metrics? metrics) =>
        metrics?.Gpus.FirstOrDefault(m => m.Index == gpu.Index)?.MemoryFreeBytes ?? gpu.MemoryFreeBytes;

    /// <summary>Every node, in the order they joined. O(nodes): listings for users go through <see cref="ListNodes(string?, int)"/>.</summary>
    public IReadOnlyList<NodeView> ListNodes() => Views(InJoinOrder(null, int.MaxValue));

    /// <summary>
    /// A page of nodes in the order they joined: at most <paramref name="limit"/> after the node <paramref name="after"/>
    /// (from the first when null), and the cursor of the next page (the last node's id) when more follow. Its cost is that
    /// of the page, whatever the size of the pool.
    /// </summary>
    /// <exception cref="PoolException"><paramref name="after"/> is not a node's id.</exception>
    public Page<NodeView> ListNodes(string? after, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var nodes = InJoinOrder(after, limit + 1);
        var more = nodes.Count > limit;
        if (more)
            nodes.RemoveAt(limit);
        return new Page<NodeView>(Views(nodes), more ? nodes[^1].Id : null);
    }

    private static List<NodeView> Views(List<LiveNode> nodes) => nodes.ConvertAll(n => { lock (n.Gate) return View(n); });

    public NodeView? FindNode(string idOrName)
    {
        if (_nodes.TryGetValue(idOrName, out var byId))
        {
            lock (byId.Gate)
                return View(byId);
        }
        // By name: the names are compared under each node's lock and only the matches are turned into views.
        var matches = new List<NodeView>();
        foreach (var node in _nodes.Values)
        {
            lock (node.Gate)
            {
                if (node.Name == idOrName && node.State != NodeState.Left)
                    matches.Add(View(node));
            }
        }
        if (matches.Count > 1)
            throw new PoolException($"More than one node is named '{idOrName}' ({string.Join(", ", matches.OrderBy(n => n.JoinedAt).Select(n => n.Id))}); use the node id.");
        return matches.SingleOrDefault();
    }

    /// <summary>The order of every listing: join time, then id (ordinal), so nodes that joined in the same tick keep one order.</summary>
    private sealed class JoinOrder : IComparer<LiveNode>
    {
        public static readonly JoinOrder Instance = new();

        public int Compare(LiveNode? x, LiveNode? y)
        {
            if (ReferenceEquals(x, y))
                return 0;
            if (x is null)
                return -1;
            if (y is null)
                return 1;
            var byTime = x.JoinedAt.CompareTo(y.JoinedAt);
            return byTime != 0 ? byTime : string.CompareOrdinal(x.Id, y.Id);
        }
    }

    private static NodeView View(LiveNode n)
    {
        var hw = n.Hardware;
        var metrics = n.Metrics;
        var gpus = hw.Gpus.Select(g =>
        {
            var live = metrics?.Gpus.FirstOrDefault(m => m.Index == g.Index);
            return new GpuView(g.Index, g.Name, g.MemoryTotalBytes, GpuFree(g, metrics), g.ComputeCapability,
                g.DriverVersion, live?.UtilizationPercent ?? g.UtilizationPercent, g.SpeedGbps) { Device = g.Device };
        }).ToList();
        return new NodeView(n.Id, n.Name, n.State.ToWire(), n.Drained, n.Address, n.JoinedAt, n.LastHeartbeat, n.Outbox is not null,
            new CpuView(hw.CpuModel, hw.LogicalCores, hw.Simd.ToList(), hw.CpuSpeedGbps, metrics?.CpuBusyPercent ?? 0),
            hw.RamTotalBytes, metrics?.RamFreeBytes ?? hw.RamFreeBytes, metrics?.DiskFreeBytes ?? hw.DiskFreeBytes, gpus, hw.Os, hw.AgentVersion, n.Labels);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
        try
        {
            Flush();
        }
        catch (Microsoft.Data.Sqlite.SqliteException ex)
        {
            _logger.LogHeartbeatFlushFailed(ex);
        }
        foreach (var node in _nodes.Values)
            node.Outbox?.TryComplete();
        _stopping.Dispose();
    }
}
