using System.Globalization;
using Tessera.Planner;

namespace Tessera.Deploy;

/// <summary>
/// Speeds learned from the stages' own step times: every <see cref="StageSpeedOptions.ObserveInterval"/> the controller
/// reads each serving stage's decoding counters (<see cref="IStageCounters"/>), turns them into the speed of the stage's
/// node (<see cref="ObservedSpeeds"/>), plans with those speeds from then on (<see cref="Cluster"/>), and, when a node
/// of a plan runs at another speed than the plan was weighed with (<see cref="SpeedDrift"/>), brings that deployment's
/// look for a better plan forward. The move itself is an improvement like any other, with the planner's margins and
/// the timer's interval between changes: the guards against flapping.
/// </summary>
public sealed partial class DeploymentController
{
    /// <summary>How long a stage may take to answer a counters read; a stage that does not is the stall detector's business, not this one's.</summary>
    private static readonly TimeSpan CountersTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Observed speeds; under the controller's gate.</summary>
    private readonly ObservedSpeeds _speeds;

    /// <summary>Hop times observed on the pipelines' links; under the controller's gate.</summary>
    private readonly ObservedHops _hops;
    private Task? _observing;
    private TimeSpan _observeDue;

    /// <summary>
    /// The pool as the planner sees it (see <see cref="PoolCluster.Build"/>) with each device's speed as its stages showed
    /// it, where they did: the one way the controller builds what it plans on. With <paramref name="ignoreLinks"/> (a
    /// deployment that asked to), no link measurement is given to the planner.
    /// </summary>
    private ClusterDescription Cluster(IReadOnlyList<Tessera.Pool.Membership.PoolNode> nodes, DeviceHoldings holdings,
        IReadOnlySet<string>? left = null, NodeStatus leftStatus = NodeStatus.Lost, bool ignoreLinks = false)
    {
        Dictionary<(string, string), double>? hops = null;
        if (!ignoreLinks)
        {
            lock (_gate)
                hops = _hops.Latencies(Now());
        }
        return PoolCluster.Build(nodes, holdings, left, leftStatus, ignoreLinks ? null : _ports.Links, EffectiveSpeeds(nodes), hops);
    }

    /// <summary>
    /// The planner's options with the head's speed factor the last stages showed (<see cref="ObservedSpeeds.HeadSpeedFactor"/>),
    /// once there is one: node speeds are learned from layers, so the head is weighed with its own efficiency.
    /// </summary>
    private PlannerOptions PlannerOptions()
    {
        double? factor;
        lock (_gate)
            factor = _speeds.HeadSpeedFactor(Now());
        return factor is { } f ? _options.Planner with { HeadSpeedFactor = f } : _options.Planner;
    }

    private Dictionary<string, double> EffectiveSpeeds(IReadOnlyList<Tessera.Pool.Membership.PoolNode> nodes)
    {
        var probed = PoolCluster.ProbedSpeeds(nodes);
        lock (_gate)
            return _speeds.Effective(probed, Now());
    }

    /// <summary>Starts a round of counter reads when one is due and the last has finished (the reads run beside the reconcile loop).</summary>
    private void ObserveSpeedsWhenDue(IReadOnlyList<Runtime> runtimes)
    {
        var interval = _options.Speeds.ObserveInterval;
        if (_ports.Counters is null || interval == TimeSpan.Zero)
            return;
        var now = Now();
        if (now < _observeDue || _observing is { IsCompleted: false })
            return;
        _observeDue = now + interval;
        _observing = Task.Run(async () =>
        {
            try
            {
                await ObserveSpeedsAsync(runtimes, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _logger.LogDeploymentProblem("(speeds)", "cannot read the stages' counters: " + ex.Message);
            }
        });
    }

    /// <summary>One round of counter reads over every deployment, now (tests step time by hand and call this).</summary>
    internal Task ObserveSpeedsNowAsync(CancellationToken cancellationToken)
    {
        List<Runtime> runtimes;
        lock (_gate)
            runtimes = _byName.Values.ToList();
        return ObserveSpeedsAsync(runtimes, cancellationToken);
    }

    /// <summary>One round: reads every serving stage's counters, records samples, and tells deployments whose nodes' speeds moved.</summary>
    private async Task ObserveSpeedsAsync(IReadOnlyList<Runtime> runtimes, CancellationToken cancellationToken)
    {
        if (_ports.Counters is not { } counters)
            return;
        var targets = new List<(Runtime Runtime, StoredStage Stage, string Endpoint, string Key)>();
        lock (_gate)
        {
            foreach (var runtime in runtimes.Where(r => !r.Removed && r.State == DeploymentStates.Ready))
            {
                foreach (var stage in runtime.Stages.Where(s => s.State == StageStates.Ready && s.Endpoint is not null && runtime.Replicas[s.Stored.Replica].Service is not null))
                {
                    var s = stage.Stored;
                    targets.Add((runtime, s, stage.Endpoint!, $"{runtime.Stored.Id}/{GlobalIndex(runtime, stage)}/{s.DeviceId}/{s.FirstLayer}-{s.LastLayer}/{stage.Endpoint}"));
                }
            }
        }
        if (targets.Count == 0)
            return;
        var reads = await Task.WhenAll(targets.Select(async t => (Target: t, Counters: await counters.ReadAsync(t.Endpoint, CountersTimeout, cancellationToken).ConfigureAwait(false))))
            .ConfigureAwait(false);
        // What each stage reads per decoded token, as the planner counts it (outside the gate: the model's facts may be read from its file).
        var bytes = reads.Where(r => r.Counters is not null)
            .Select(r =>
            {
                var profile = FactsOf(r.Target.Runtime).Profile;
                var layers = new LayerSpan(r.Target.Stage.FirstLayer, r.Target.Stage.LastLayer);
                var read = PoolPlanner.StageReadBytes(PlanRequests.For(r.Target.Runtime.Stored, profile), layers, _options.Planner with { HeadSpeedFactor = 1 });
                return (r.Target, r.Counters!.Value, Bytes: read, HeadBytes: layers.Last == profile.LayerCount ? (double)profile.HeadBytes : 0);
            })
            .ToList();
        var now = Now();
        var links = _ports.Links?.Snapshot() ?? []; // the measured bandwidths, read outside the gate
        lock (_gate)
        {
            foreach (var (target, read, perPass, headPerPass) in bytes)
            {
                var sample = _speeds.Observe(target.Key, target.Stage.DeviceId, now, read.DecodePasses, read.DecodeSeconds, perPass, read.DecodeHeadSeconds, headPerPass);
                if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
                    _logger.LogStageCountersRead(target.Key, target.Stage.NodeName, read.DecodePasses, read.DecodeSeconds,
                        sample is { } gbps ? string.Create(CultureInfo.InvariantCulture, $"sample {gbps:0.###} GB/s") : "no sample yet");
            }
            _speeds.Retain(targets.Select(t => t.Key).ToHashSet(StringComparer.Ordinal));
            ObserveHops(bytes.Select(b => (b.Target.Runtime, b.Target.Stage, b.Target.Key, b.Value)).ToList(), links, now);
            _hops.Retain(targets.Select(t => t.Key).ToHashSet(StringComparer.Ordinal));
        }
        NoticeSpeedChanges(runtimes.Where(r => targets.Exists(t => t.Runtime == r)).ToList(), now);
    }

    /// <summary>
    /// Samples the links of every replica whose stages all answered (see <see cref="ObservedHops"/>): the transfer part
    /// of a hop comes from the deployment's activation size and the link's measured bandwidth. Caller holds the gate.
    /// </summary>
    private void ObserveHops(IReadOnlyList<(Runtime Runtime, StoredStage Stage, string Key, StageCounters Read)> reads, IReadOnlyList<LinkInfo> links, TimeSpan now)
    {
        foreach (var replica in reads.GroupBy(r => (r.Runtime, r.Stage.Replica)))
        {
            var runtime = replica.Key.Runtime;
            var stages = replica.OrderBy(r => r.Stage.Index).ToList();
            if (stages.Count != runtime.Stored.Stages.Count(s => s.Replica == replica.Key.Replica))
                continue; // a stage did not answer: no interval covers the whole pipeline
            var activationBytes = runtime.Facts?.Profile.ActivationBytesPerToken(Tessera.Serving.ActivationFormats.BytesPerElement(Tessera.Serving.ActivationFormats.Parse(runtime.Stored.Activations))) ?? 0;
            double Transfer(string a, string b) =>
                links.FirstOrDefault(l => l.Joins(a, b)) is { BandwidthBytesPerSecond: > 0 } link
                    ? (activationBytes + PoolPlanner.SampledTokenBytes) / link.BandwidthBytesPerSecond
                    : 0;
            var sampled = _hops.Observe(stages.Select(s => new ObservedHops.StageRead(s.Key, s.Stage.NodeId, s.Read)).ToList(), now, Transfer);
            if (sampled.Count > 0 && _logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
                _logger.LogHopsObserved(runtime.Stored.Name, string.Join(", ", sampled.Select(h => string.Create(CultureInfo.InvariantCulture, $"{h.NodeA}-{h.NodeB} {h.LatencyMs:0.###} ms"))));
        }
    }

    /// <summary>Every link's latency as the pipelines showed it (see <see cref="ObservedHops"/>), where it has enough samples.</summary>
    public IReadOnlyList<Tessera.Pool.Client.ObservedHopView> ObservedHopLatencies()
    {
        lock (_gate)
            return _hops.Latencies(Now()).Select(h => new Tessera.Pool.Client.ObservedHopView(h.Key.Item1, h.Key.Item2, h.Value)).ToList();
    }

    /// <summary>Brings forward the improvement check of deployments whose nodes run at another speed than their plan was weighed with, with an event each.</summary>
    private void NoticeSpeedChanges(IReadOnlyList<Runtime> runtimes, TimeSpan now)
    {
        var nodes = _ports.Nodes.Snapshot();
        var probed = PoolCluster.ProbedSpeeds(nodes);
        var notices = new List<(string? NodeId, string Message)>();
        lock (_gate)
        {
            foreach (var (runtime, deviceId, words) in Drifts(runtimes.Where(r => !r.Removed), probed, now))
            {
                runtime.Improvement.SpeedChanged(now, deviceId, words);
                if (runtime.SpeedNoticed.Add(deviceId))
                    notices.Add((PoolCluster.NodeOf(deviceId), $"Deployment {runtime.Stored.Name}: {words}; looking for a faster plan"));
            }
        }
        foreach (var (nodeId, message) in notices)
            AddEvent("stage-speed", nodeId, message);
    }

    /// <summary>
    /// The devices of each of <paramref name="runtimes"/>' plans that run at another speed than it was weighed with, in
    /// words (<see cref="SpeedDrift"/>); the speeds are read once for all. Caller holds the gate.
    /// </summary>
    private List<(Runtime Runtime, string DeviceId, string Words)> Drifts(IEnumerable<Runtime> runtimes, IReadOnlyDictionary<string, double> probed, TimeSpan now)
    {
        var effective = _speeds.Effective(probed, now);
        var observed = probed.Keys.Where(id => _speeds.Observed(id, now) is not null).ToHashSet(StringComparer.Ordinal);
        return [.. runtimes.SelectMany(r => SpeedDrift.Find(r.Stored.Stages, r.WeighedSpeeds, probed, effective, observed, _options.Speeds.DriftFactor)
            .Select(d => (r, d.DeviceId, d.Words)))];
    }

    /// <summary>
    /// The plan stays: its prediction is brought up to date with today's speeds (so what <c>tessera deployments</c>
    /// predicts is what the stages showed), and a check that a change of speed brought forward says what it decided.
    /// </summary>
    private void KeepPrediction(Runtime runtime, Plan current, string? trigger, bool bySpeed)
    {
        var predicted = current.SingleStreamTokensPerSecond;
        StoredDeployment? updated = null;
        lock (_gate)
        {
            var was = runtime.Stored.PredictedTokensPerSecond;
            if (!runtime.Removed && double.IsFinite(predicted) && predicted > 0 && Math.Abs(predicted - was) > 0.02 * Math.Max(was, predicted))
                runtime.Stored = updated = runtime.Stored with { PredictedTokensPerSecond = predicted };
        }
        if (updated is not null)
            _ports.Store.Update(updated, _time.GetUtcNow());
        if (bySpeed)
            AddEvent("plan-kept", null, string.Create(CultureInfo.InvariantCulture,
                $"Deployment {runtime.Stored.Name}: plan kept: {trigger}, but no plan is predicted faster by enough to move; the current plan now predicts {predicted:0.#} tokens/s."));
    }
}
