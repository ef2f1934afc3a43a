using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Tessera.Planner;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Pool.State;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>How the coordinator keeps the pool's links measured.</summary>
public sealed record LinkMonitorOptions
{
    public static LinkMonitorOptions Default { get; } = new();

    /// <summary>Whether links are measured in rounds; off, they are measured only on demand (<c>tessera links --measure</c>).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Time between rounds. A node's agent also gets measured from the coordinator as soon as it connects.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Bytes pushed per link in a round (a throughput sample; on demand, 1 MiB).</summary>
    public long PushBytes { get; init; } = 256 * 1024;

    /// <summary>The coordinator's own link to a node older than this is measured again in the next round.</summary>
    public TimeSpan CoordinatorMaxAge { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Links the coordinator itself measures in one round.</summary>
    public int CoordinatorPerRound { get; init; } = 8;

    /// <summary>
    /// How long a round waits for an agent's report before it gives up on it, besides 6 s per link asked (a peer that
    /// does not answer costs the 5 s connect timeout).
    /// </summary>
    public TimeSpan ReportTimeout { get; init; } = TimeSpan.FromSeconds(30);

    internal LinkProbeLimits Limits { get; init; } = LinkProbeLimits.Default;
}

/// <summary>What one round of measurement did.</summary>
public sealed record LinkRoundSummary(int Asked, int Measured, int Unreachable, int NotAnswered);

/// <summary>
/// The coordinator's side of link measurement. Each round (a minute by default) it measures its own link to each
/// agent's probe that is new or stale (which tells whether the agent can be dialled at all), asks agents to measure the
/// links <see cref="LinkProbePolicy"/> chooses, and stores what comes back in the pool's <c>links</c> table; deployments
/// plan with those links (<see cref="ILinkDirectory"/>). A report is accepted only for links the coordinator asked the
/// reporting node to measure.
/// </summary>
public sealed class LinkMonitor : ILinkDirectory, IAsyncDisposable
{
    /// <summary>The round trip the planner is given for a link the probe could not cross: no plan routes a token over it.</summary>
    public const double UnreachableRttMs = 10_000;

    private readonly INodeDirectory _nodes;
    private readonly IAgentCommands _agents;
    private readonly PoolStore _store;
    private readonly StageTls _tls;
    private readonly Func<string> _coordinatorAddress;
    private readonly Func<string?, IReadOnlyList<(string A, string B)>> _neighbours;
    private readonly LinkMonitorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Asked> _asked = new(StringComparer.Ordinal);

    // The probe endpoint each node had when the coordinator last measured it: a node that comes back on another one (its
    // agent restarted) is measured again at once, and what failed against its old endpoint is forgotten.
    private readonly ConcurrentDictionary<string, string> _measuredEndpoint = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _oneRound = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;
    private long _round;

    internal LinkMonitor(INodeDirectory nodes, IAgentCommands agents, PoolStore store, StageTls tls, Func<string> coordinatorAddress,
        Func<string?, IReadOnlyList<(string A, string B)>> neighbours, LinkMonitorOptions options, TimeProvider time, ILogger logger)
    {
        _nodes = nodes;
        _agents = agents;
        _store = store;
        _tls = tls;
        _coordinatorAddress = coordinatorAddress;
        _neighbours = neighbours;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <inheritdoc/>
    public string? CoordinatorNodeId { get; set; }

    /// <summary>
    /// The coordinator's relay, when it has one: a node the coordinator cannot dial is then measured through it (what
    /// its stages' connections cross), and <see cref="Snapshot"/> gives the planner its links as relayed paths.
    /// </summary>
    public IStageRelay? Relay { get; init; }

    // Nodes whose probe the coordinator could not dial at its latest attempt, with their measurement through the relay
    // (null: that failed too, or there is no relay).
    private readonly ConcurrentDictionary<string, LinkInfo?> _relayed = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public bool IsUnreachable(string nodeId) => _relayed.ContainsKey(nodeId);

    /// <summary>The id the coordinator's own measurements are stored under.</summary>
    private string CoordinatorId => CoordinatorNodeId ?? LinkRecord.Coordinator;

    /// <summary>
    /// The links as the planner takes them: the smallest median round trip of the link's last
    /// <see cref="PlanningJitter.Window"/> measurements, throughput, reachability, and jitter as
    /// <see cref="PlanningJitter"/> makes it usable (steady over the link's last measurements, beyond the pool's common
    /// floor). Links of nodes nobody can dial are given as the relay makes them (<see cref="RelayedLinks"/>).
    /// </summary>
    public IReadOnlyList<LinkInfo> Snapshot()
    {
        var links = _store.ListLinks();
        var recent = new Dictionary<(string, string), IReadOnlyList<double>>();
        var steadyRtt = new Dictionary<(string, string), double>();
        lock (_history)
        {
            // Only links the pool still has (a removed node's are deleted) set the common floor.
            foreach (var link in links.Where(l => l.Reachable))
            {
                var pair = LinkProbePolicy.Pair(link.FromNodeId, link.ToNodeId);
                if (_history.TryGetValue(pair, out var history))
                {
                    recent[pair] = [.. history.Select(h => h.JitterMs)];
                    steadyRtt[pair] = history.Min(h => h.RttMs);
                }
            }
        }
        var jitter = PlanningJitter.Excess(recent);
        var measured = PlanningJitter.Steady(recent);
        return RelayedLinks.Apply([.. links.Select(l =>
        {
            var pair = LinkProbePolicy.Pair(l.FromNodeId, l.ToNodeId);
            return l.Reachable
                ? new LinkInfo(l.FromNodeId, l.ToNodeId, steadyRtt.GetValueOrDefault(pair, l.RttMs), jitter.GetValueOrDefault(pair), l.BandwidthMbps * 1e6 / 8,
                    measured.TryGetValue(pair, out var own) ? own : null)
                : new LinkInfo(l.FromNodeId, l.ToNodeId, UnreachableRttMs, 0, 0);
        })], _relayed, CoordinatorId, UnreachableRttMs);
    }

    // Each link's latest measurements (since this coordinator started), oldest first, by pair: their median round trips
    // and jitters. The planner takes the smallest of the medians (queueing on a busy machine only adds to an echo: a
    // loopback link measured 1.9 and 4.5 ms at random under load) and the jitter as PlanningJitter makes it.
    private readonly Dictionary<(string, string), Queue<(double RttMs, double JitterMs)>> _history = [];

    /// <summary>Starts the rounds (when enabled).</summary>
    public void Start()
    {
        if (_options.Enabled)
            _loop = Task.Run(LoopAsync);
    }

    private async Task LoopAsync()
    {
        var token = _stopping.Token;
        var lastRound = long.MinValue;
        while (!token.IsCancellationRequested)
        {
            try
            {
                // Checked every few seconds, so a node that just joined is measured then, not a round later.
                await Task.Delay(NewNodeCheck < _options.Interval ? NewNodeCheck : _options.Interval, _time, token).ConfigureAwait(false);
                if (lastRound != long.MinValue && _time.GetElapsedTime(lastRound) < _options.Interval && !HasUnmeasuredNode())
                    continue;
                lastRound = _time.GetTimestamp();
                await RunRoundAsync(everything: false, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _logger.LogLinkRoundFailed(e.Message);
            }
        }
    }

    private static readonly TimeSpan NewNodeCheck = TimeSpan.FromSeconds(3);

    /// <summary>A connected agent with a probe that the coordinator has not measured yet (it just joined, or its probe moved).</summary>
    private bool HasUnmeasuredNode() => _nodes.Snapshot().Any(n => n.Connected && Moved(n));

    /// <summary>Whether <paramref name="node"/>'s probe is not the one the coordinator last measured (or was never measured since this coordinator started).</summary>
    private bool Moved(PoolNode node) =>
        node.ProbeEndpoint.Length > 0 && node.Id != CoordinatorNodeId && (!_measuredEndpoint.TryGetValue(node.Id, out var endpoint) || endpoint != node.ProbeEndpoint);

    /// <summary>
    /// One round now. With <paramref name="everything"/> (<c>tessera links --measure</c>) every pair of connected agents
    /// and every agent from the coordinator is measured, with a 1 MiB transfer, at most 64 links per agent; otherwise
    /// what <see cref="LinkProbePolicy"/> chooses. Waits for the agents' reports (at most <see cref="LinkMonitorOptions.ReportTimeout"/>).
    /// </summary>
    public async Task<LinkRoundSummary> RunRoundAsync(bool everything, CancellationToken cancellation)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellation, _stopping.Token);
        var token = linked.Token;
        await _oneRound.WaitAsync(token).ConfigureAwait(false);
        try
        {
            var now = _time.GetUtcNow();
            var round = Interlocked.Increment(ref _round);
            var nodes = _nodes.Snapshot().Where(n => n.Connected && n.State != NodeState.Left).ToList();
            var moved = nodes.Where(Moved).Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
            foreach (var id in moved)
                _store.DeleteFailedLinks(id);
            var links = _store.ListLinks();
            var measuredAt = new Dictionary<(string, string), DateTimeOffset>();
            var failed = new List<(string, string)>();
            foreach (var link in links)
            {
                var key = LinkProbePolicy.Pair(link.FromNodeId, link.ToNodeId);
                // A node that moved is measured afresh, as if new.
                if (moved.Contains(link.FromNodeId) || moved.Contains(link.ToNodeId))
                    continue;
                if (!measuredAt.TryGetValue(key, out var at) || at < link.MeasuredAt)
                    measuredAt[key] = link.MeasuredAt;
                if (!link.Reachable)
                    failed.Add((link.FromNodeId, link.ToNodeId));
            }

            // The coordinator's own links first: they say which agents can be dialled at all.
            var fromCoordinator = links.Where(l => l.FromNodeId == CoordinatorId).ToDictionary(l => l.ToNodeId, StringComparer.Ordinal);
            var pushBytes = everything ? 1L << 20 : _options.PushBytes;
            var coordinatorTargets = nodes.Where(n => n.ProbeEndpoint.Length > 0 && n.Id != CoordinatorNodeId
                    && (everything || moved.Contains(n.Id) || !fromCoordinator.TryGetValue(n.Id, out var last)
                        || now - last.MeasuredAt >= (last.Reachable ? _options.CoordinatorMaxAge : _options.Limits.NeighbourMaxAge)))
                .OrderByDescending(n => moved.Contains(n.Id))
                .Take(everything ? int.MaxValue : _options.CoordinatorPerRound).ToList();
            var unreachable = 0;
            var measured = 0;
            foreach (var node in coordinatorTargets)
            {
                var budget = LinkProbeBudget.Default with { PushBytes = pushBytes };
                var m = await LinkMeasurer.MeasureAsync(Endpoint(node), _tls, budget, token).ConfigureAwait(false);
                Store(CoordinatorId, node.Id, m, _time.GetUtcNow());
                if (m.Reachable)
                    _relayed.TryRemove(node.Id, out _);
                else
                    _relayed[node.Id] = await MeasureThroughRelayAsync(node, budget, token).ConfigureAwait(false);
                _measuredEndpoint[node.Id] = node.ProbeEndpoint;
                fromCoordinator[node.Id] = new LinkRecord(CoordinatorId, node.Id, 0, 0, 0, now) { Error = m.Error };
                if (m.Reachable)
                    measured++;
                else
                    unreachable++;
            }

            var probeNodes = nodes.Select(n => new ProbeNode(n.Id, n.ProbeEndpoint.Length > 0
                && (!fromCoordinator.TryGetValue(n.Id, out var c) || c.Reachable))).ToList();
            var plan = everything
                ? LinkProbePolicy.Choose(probeNodes, AllPairs(probeNodes), new Dictionary<(string, string), DateTimeOffset>(), now, round, EveryPair)
                // Links that failed are measured again as often as pipeline neighbours: a cut may have healed.
                : LinkProbePolicy.Choose(probeNodes, [.. _neighbours(CoordinatorNodeId), .. failed], measuredAt, now, round, _options.Limits);
            var byId = nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
            var waits = new List<Task<Stored?>>();
            var asked = 0;
            foreach (var (from, targets) in plan)
            {
                var command = new MeasureLinksCommand { PushBytes = pushBytes };
                command.Targets.AddRange(targets.Select(t => new LinkTarget { NodeId = t, Endpoint = Endpoint(byId[t]) }));
                var id = Tessera.Identity.Secrets.NewId("cmd_");
                var entry = new Asked(from, [.. targets], new TaskCompletionSource<Stored?>(TaskCreationOptions.RunContinuationsAsynchronously));
                _asked[id] = entry;
                if (!_agents.TrySend(from, new Command { CommandId = id, MeasureLinks = command }))
                {
                    _asked.TryRemove(id, out _);
                    continue;
                }
                asked += targets.Count;
                waits.Add(WaitAsync(id, entry, token));
            }
            var reports = await Task.WhenAll(waits).ConfigureAwait(false);
            var notAnswered = 0;
            foreach (var report in reports)
            {
                if (report is null)
                {
                    notAnswered++;
                    continue;
                }
                measured += report.Value.Measured;
                unreachable += report.Value.Unreachable;
            }
            return new LinkRoundSummary(asked + coordinatorTargets.Count, measured, unreachable, notAnswered);
        }
        finally
        {
            _oneRound.Release();
        }
    }

    /// <summary>
    /// The policy's limits for measuring every pair at once: each pair offered as if pipeline neighbours, by the end with
    /// fewer so far that can dial the other, at most <see cref="LinkProbeAgent.MaxTargets"/> per agent.
    /// </summary>
    private static readonly LinkProbeLimits EveryPair = new()
    {
        PerNodePerRound = LinkProbeAgent.MaxTargets,
        IntoNodePerRound = int.MaxValue,
        NeighbourMaxAge = TimeSpan.Zero,
        NewNodePeers = 0,
    };

    private static IEnumerable<(string, string)> AllPairs(IReadOnlyList<ProbeNode> nodes)
    {
        for (var i = 0; i < nodes.Count; i++)
        {
            for (var j = i + 1; j < nodes.Count; j++)
                yield return (nodes[i].Id, nodes[j].Id);
        }
    }

    private async Task<Stored?> WaitAsync(string commandId, Asked entry, CancellationToken token)
    {
        try
        {
            var timeout = _options.ReportTimeout + TimeSpan.FromSeconds(6) * entry.Targets.Count;
            return await entry.Report.Task.WaitAsync(timeout, _time, token).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
        finally
        {
            _asked.TryRemove(commandId, out _);
        }
    }

    /// <summary>An agent's report: stores the links it was asked to measure, and ignores anything else.</summary>
    public void OnLinkReport(string nodeId, LinkReport report)
    {
        if (!_asked.TryGetValue(report.CommandId, out var entry) || entry.From != nodeId)
            return;
        var now = _time.GetUtcNow();
        var stored = new Stored(0, 0);
        foreach (var result in report.Results)
        {
            if (!entry.Targets.Remove(result.NodeId)) // not asked, or answered twice
                continue;
            var m = new LinkMeasurement(Finite(result.RttP50Ms), Finite(result.RttP99Ms), Finite(result.JitterMs), Math.Clamp(Finite(result.Loss), 0, 1),
                Finite(result.BandwidthBytesPerSecond), Math.Max(0, result.Samples), result.Error.Length == 0 ? null : Truncate(result.Error));
            Store(nodeId, result.NodeId, m, now);
            stored = m.Reachable ? stored with { Measured = stored.Measured + 1 } : stored with { Unreachable = stored.Unreachable + 1 };
        }
        entry.Report.TrySetResult(stored);
    }

    /// <summary>Stores a measurement of the link from <paramref name="from"/> to <paramref name="to"/> and remembers its round trip and jitter for planning.</summary>
    internal void Store(string from, string to, LinkMeasurement m, DateTimeOffset at)
    {
        _store.UpsertLink(new LinkRecord(from, to, m.RttP50Ms, m.JitterMs, m.BandwidthBytesPerSecond * 8 / 1e6, at)
        {
            RttP99Ms = m.RttP99Ms,
            Loss = m.Loss,
            Samples = m.Samples,
            Error = m.Error,
        });
        var pair = LinkProbePolicy.Pair(from, to);
        lock (_history)
        {
            if (!m.Reachable)
            {
                _history.Remove(pair); // a link that comes back starts afresh
                return;
            }
            if (!_history.TryGetValue(pair, out var history))
                _history[pair] = history = new Queue<(double, double)>(PlanningJitter.Window + 1);
            history.Enqueue((m.RttP50Ms, m.JitterMs));
            while (history.Count > PlanningJitter.Window)
                history.Dequeue();
        }
    }

    private string Endpoint(PoolNode node) => StageEndpoints.Peer(node.ProbeEndpoint, node.Address, _coordinatorAddress());

    /// <summary>The coordinator's link to a node it cannot dial, as its stages' connections cross it: through the relay. Null when that fails too.</summary>
    private async Task<LinkInfo?> MeasureThroughRelayAsync(PoolNode node, LinkProbeBudget budget, CancellationToken token)
    {
        if (Relay is null)
            return null;
        var m = await LinkMeasurer.MeasureAsync(Relay.Through(node.Id, node.ProbeEndpoint), _tls, budget, token).ConfigureAwait(false);
        if (!m.Reachable)
        {
            _logger.LogLinkRoundFailed($"node {node.Name} cannot be dialled and does not answer through the relay either: {m.Error}");
            return null;
        }
        return new LinkInfo(CoordinatorId, node.Id, m.RttP50Ms, 0, m.BandwidthBytesPerSecond);
    }

    private static double Finite(double value) => double.IsFinite(value) && value >= 0 ? value : 0;

    private static string Truncate(string text) => text.Length <= 500 ? text : text[..500];

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private sealed record Asked(string From, HashSet<string> Targets, TaskCompletionSource<Stored?> Report);

    /// <summary>What one report added: links measured, and links found unreachable.</summary>
    private readonly record struct Stored(int Measured, int Unreachable);
}
