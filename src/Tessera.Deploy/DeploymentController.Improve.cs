using System.Globalization;
using Tessera.Planner;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// Moving a deployment to a better plan when the pool got better (a node came back, a faster one joined): each
/// deployment's <see cref="ImproveTimer"/> says when to look; <see cref="PoolPlanner.Improve"/> says whether a new plan
/// beats the current one by enough to be worth the move (the hysteresis); the move itself goes as a drain's does (new
/// stages first, then each pipeline switches, then the old stages stop), so no session fails. A move that fails before
/// any pipeline switched puts the old plan back: it never stopped serving.
/// </summary>
public sealed partial class DeploymentController
{
    /// <summary>How long a node that became ready is given to settle (report its memory and speed) before plans are weighed with it.</summary>
    private static readonly TimeSpan ImproveSettle = TimeSpan.FromSeconds(2);

    /// <summary>How long after a failed move to a better plan the deployment tries again.</summary>
    private static readonly TimeSpan ImproveBackoff = TimeSpan.FromMinutes(5);

    /// <summary>Nodes ready at the last tick (null before the first), and every node seen since the controller started.</summary>
    private HashSet<string>? _readyNodes;
    private readonly HashSet<string> _seenNodes = new(StringComparer.Ordinal);

    /// <summary>When each node last became ready, and how to say it; under the controller's gate.</summary>
    private readonly Dictionary<string, (TimeSpan At, string Words)> _arrivals = new(StringComparer.Ordinal);

    private TimeSpan Now() => TimeSpan.FromSeconds(_time.GetTimestamp() / (double)_time.TimestampFrequency);

    private ImproveTimer NewImproveTimer() => new(Now(), _options.ImproveInterval, ImproveSettle, ImproveBackoff);

    /// <summary>Tells every deployment about nodes that became ready since the last tick (joined, or came back).</summary>
    private void NoteReadyNodes(IReadOnlyList<Runtime> runtimes)
    {
        var nodes = _ports.Nodes.Snapshot();
        var ready = ReconcileRules.ReadyNodes(nodes);
        if (_readyNodes is not null)
        {
            var now = Now();
            foreach (var (id, name) in ready.Where(r => !_readyNodes.Contains(r.Key)))
            {
                var why = _seenNodes.Contains(id) ? $"node {name} returned" : $"node {name} joined";
                lock (_gate)
                {
                    _arrivals[id] = (now, why);
                    foreach (var runtime in runtimes)
                        runtime.Improvement.NodeReady(now, why);
                }
            }
        }
        _readyNodes = [.. ready.Keys];
        _seenNodes.UnionWith(nodes.Select(n => n.Id));
    }

    /// <summary>Starts looking for a better plan when the deployment's timer says so and nothing else moves it.</summary>
    private void StartImprovementWhenDue(Runtime runtime)
    {
        // A placement the user gave is theirs: only a recovery (a lost or drained node) changes it.
        if (!_options.Improve || runtime.Stored.Spec.Placement is not null)
            return;
        lock (_gate)
        {
            if (runtime.Removed || runtime.State != DeploymentStates.Ready || !runtime.Improvement.IsDue(Now())
                || runtime.Improving is { IsCompleted: false } || runtime.Draining is { IsCompleted: false } || runtime.RecoveryGate.CurrentCount == 0)
                return;
            runtime.Improving = Task.Run(() => ImproveAsync(runtime, _stopping.Token));
        }
    }

    private async Task ImproveAsync(Runtime runtime, CancellationToken cancellationToken)
    {
        string? trigger;
        bool bySpeed;
        var probed = PoolCluster.ProbedSpeeds(_ports.Nodes.Snapshot());
        lock (_gate)
        {
            trigger = runtime.Improvement.Trigger;
            bySpeed = runtime.Improvement.BySpeed;
            // A periodic check that finds a node running at another speed than the plan was weighed with says so: the
            // timer may come before the reading that would have brought the check forward.
            if (trigger is null && Drifts([runtime], probed, Now()) is { Count: > 0 } drift)
            {
                trigger = string.Join(", ", drift.Select(d => d.Words));
                bySpeed = true;
                runtime.SpeedNoticed.UnionWith(drift.Select(d => d.DeviceId));
            }
            runtime.Improvement.Checked(Now());
        }
        // A recovery or drain under way has the deployment: the next check sees the plan it leaves.
        if (!await runtime.RecoveryGate.WaitAsync(0, cancellationToken).ConfigureAwait(false))
            return;
        var name = runtime.Stored.Name;
        var stops = new List<StageStop>();
        var moved = new List<(IPipelineService Pipeline, PipelineRecoveryStatistics Before)>();
        PlanSnapshot? before = null;
        ReplanResult result;
        string summary;
        var started = _time.GetTimestamp();
        try
        {
            var avoided = AvoidedNodes(runtime);
            var nodes = _ports.Nodes.Snapshot();
            var request = PlanRequests.For(runtime.Stored, FactsOf(runtime).Profile) with { ExcludedDevices = PoolCluster.DevicesOf(avoided, nodes, runtime.Stored.Stages) };
            var cluster = Cluster(nodes, HoldingsBesides(runtime), avoided, ignoreLinks: runtime.Stored.Spec.IgnoreLinks == true);
            // A stage's node that is not ready now (suspected after missed heartbeats on a busy machine, or failing) is the
            // recovery's business, not a reason to move: improving waits until the plan's nodes are all well.
            if (runtime.Stored.Stages.FirstOrDefault(st => cluster.FindDevice(st.DeviceId) is null) is { } unwell)
            {
                _logger.LogPlanKept(name, $"node {unwell.NodeName} of the plan is not ready; not looking for a better plan now");
                return;
            }
            result = PoolPlanner.Improve(PlanRequests.CurrentPlan(runtime.Stored), request, cluster, PlannerOptions());
            lock (_gate)
                runtime.Weighed(cluster);
            if (!result.Succeeded || !result.Changed)
            {
                _logger.LogPlanKept(name, result.Explanation);
                if (result.Succeeded)
                    KeepPrediction(runtime, result.Plan, trigger, bySpeed);
                return;
            }
            lock (_gate)
                before = new PlanSnapshot(runtime.Stored, runtime.Stages, runtime.Improvement.LastChange);
            summary = await ApplyPlanAsync(runtime, result, new HashSet<string>(), stops, cancellationToken).ConfigureAwait(false);
            DeploymentMetrics.Replanned(name, PlanChange.Improved);
            await SwitchReplicasAsync(runtime, moved, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            lock (_gate)
                runtime.Improvement.MoveFailed(Now());
            var kept = before is not null && moved.Count == 0 && Revert(runtime, before);
            AddEvent("plan-improve-failed", null, string.Create(CultureInfo.InvariantCulture,
                $"Deployment {name}: a better plan was found ({trigger ?? "periodic check"}) but the move failed: {ex.Message}; ") +
                (kept ? "the current plan keeps serving" : "replicas that had not switched stay on their stages until their next recovery") +
                string.Create(CultureInfo.InvariantCulture, $"; trying again in {ImproveBackoff.TotalMinutes:0} min."));
            return;
        }
        finally
        {
            runtime.RecoveryGate.Release();
        }

        var finish = await FinishMoveAsync(runtime, stops, moved, started, cancellationToken).ConfigureAwait(false);
        var why = ArrivalsAmong(result.Moves, before!) ?? trigger ?? "periodic check";
        var after = result.Plan.SingleStreamTokensPerSecond;
        var was = result.SpeedRatio > 0 ? after / result.SpeedRatio : 0;
        // A move that balances stages of equal speed gains nothing for one stream: say what it gains for many.
        var many = result.ThroughputRatio > result.SpeedRatio * 1.05
            ? string.Create(CultureInfo.InvariantCulture, $" single-stream, {result.Plan.MaxThroughputTokensPerSecond / result.ThroughputRatio:0.#} → {result.Plan.MaxThroughputTokensPerSecond:0.#} with many sessions")
            : "";
        AddEvent("plan-improved", null, string.Create(CultureInfo.InvariantCulture,
            $"Deployment {name}: plan improved: {why}; {summary}; predicted {was:0.#} → {after:0.#} tokens/s{many}; ") + finish);
    }

    /// <summary>
    /// Why a move is worth it, when nodes that receive layers, and that the old plan did not use, became ready since
    /// that plan was made: "node b returned". The timer's trigger names whatever brought the check forward, which need
    /// not be what the better plan uses (a node of the plan that missed a few heartbeats on a busy machine "returns" too).
    /// </summary>
    private string? ArrivalsAmong(IReadOnlyList<LayerMove> moves, PlanSnapshot old)
    {
        var oldNodes = old.Stored.Stages.Select(s => s.NodeId).ToHashSet(StringComparer.Ordinal);
        lock (_gate)
        {
            var words = moves.Select(m => PoolCluster.NodeOf(m.ToDeviceId)).OfType<string>().Distinct(StringComparer.Ordinal)
                .Where(id => !oldNodes.Contains(id) && _arrivals.TryGetValue(id, out var a) && a.At >= old.MadeAt)
                .Select(id => _arrivals[id].Words)
                .ToList();
            return words.Count == 0 ? null : string.Join(", ", words);
        }
    }
}
