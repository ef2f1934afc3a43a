using System.Globalization;
using System.Text;
using Tessera.Planner;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// Recovery of a deployment whose pipeline lost a stage: the pipeline pauses its sessions and calls
/// <see cref="DeploymentRecovery.ReplaceAsync"/>; the controller finds what broke (<see cref="RecoveryRules"/>: a stalled
/// stage, a cut link, lost nodes, stages it cannot reach itself, or a stage that merely stopped), re-plans with
/// <see cref="PoolPlanner.Replan"/> where nodes must be left out (a spare node takes their layers, or neighbours
/// extend), starts the new or changed stages, waits until they are ready, stores the new plan and returns the
/// pipeline to continue on.
/// </summary>
public sealed partial class DeploymentController
{
    /// <summary>How long the membership may take to see that a stage's node is gone after the pipeline saw the stage break.</summary>
    private static readonly TimeSpan LossDetectionTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long new stages may take to load before this try of the recovery gives up.</summary>
    private static readonly TimeSpan StageReadyTimeout = TimeSpan.FromSeconds(45);

    private static readonly TimeSpan RecoveryPoll = TimeSpan.FromMilliseconds(50);

    /// <summary>How long after a recovery the controller watches for the sessions' first token, to report the pause.</summary>
    private static readonly TimeSpan PauseWatch = TimeSpan.FromSeconds(30);

    /// <summary>How long the coordinator waits for a stage to answer it directly.</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How long a deployment keeps off a node behind a cut link, or one whose stages the coordinator cannot reach. The
    /// pool does not measure links between agents yet, so it cannot see the link mend; after this the node may be
    /// planned again (and, if it is still cut off, is routed around again).
    /// </summary>
    private static readonly TimeSpan LinkAvoidance = TimeSpan.FromMinutes(10);

    /// <summary>The pipeline's recovery for one replica of a deployment.</summary>
    private sealed class DeploymentRecovery(DeploymentController controller, Runtime runtime, int replica) : IPipelineRecovery
    {
        public Task<IReadOnlyList<string>> ReplaceAsync(PipelineFailure failure, CancellationToken cancellation) =>
            controller.RecoverAsync(runtime, replica, failure, cancellation);
    }

    private async Task<IReadOnlyList<string>> RecoverAsync(Runtime runtime, int replica, PipelineFailure failure, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        await runtime.RecoveryGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var name = runtime.Stored.Name;
            _logger.LogDeploymentProblem(name, $"replica {replica}'s pipeline broke ({failure.Reason}); recovering (try {failure.Attempt})");
            var (summary, eventNode) = await RepairAsync(runtime, replica, failure, cancellationToken).ConfigureAwait(false);
            var endpoints = await WaitForReplicaAsync(runtime, replica, cancellationToken).ConfigureAwait(false);
            var seconds = _time.GetElapsedTime(started).TotalSeconds;
            AddEvent("deployment-recovered", eventNode,
                $"Deployment {name}: {summary}; the pipeline was ready again after {DeploymentWords.Seconds(seconds)}.");
            _logger.LogDeploymentReady(name, string.Join(" -> ", endpoints));
            WatchPause(runtime, replica);
            return endpoints;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            AddEvent("deployment-recovery-failed", null,
                $"Deployment {runtime.Stored.Name}: recovery try {failure.Attempt} failed: {ex.Message}");
            throw;
        }
        finally
        {
            runtime.RecoveryGate.Release();
        }
    }

    /// <summary>Finds what broke and changes the plan (or restarts stages) accordingly; returns what happened, in words, and the node to file the event under.</summary>
    private async Task<(string Summary, string? EventNode)> RepairAsync(Runtime runtime, int replica, PipelineFailure failure, CancellationToken cancellationToken)
    {
        var name = runtime.Stored.Name;
        List<PlacedStage> placed;
        lock (_gate)
            placed = runtime.Placed(replica);

        // A stall names the stage that did not answer the driver, which runs here: probing it again would only add the
        // probe's timeout to the clients' pause, and re-planning without its node must not wait for the membership (a
        // stopped process is marked down seconds later; a black-holed port never is). Returning the same pipeline would
        // stall again, so the node is always left out.
        if (RecoveryRules.StalledStage(placed, failure) is { } stalled)
        {
            List<StoredStage> stored;
            lock (_gate)
                stored = runtime.Stages.Select(s => s.Stored).ToList();
            if (RecoveryRules.LostNodes(stored, NodesById()).Contains(stalled.NodeId))
                return (await ReplanAsync(runtime, new HashSet<string> { stalled.NodeId }, PlanChange.NodeLost, null, cancellationToken).ConfigureAwait(false), stalled.NodeId);
            Avoid(runtime, [stalled.NodeId]);
            var words = $"stage {stalled.Index} ({DeploymentWords.Layers(stalled.FirstLayer, stalled.LastLayer)}) on {stalled.NodeName} at {failure.UnreachableEndpoint} " +
                "stopped making progress and does not answer the coordinator";
            AddEvent("stage-stalled", stalled.NodeId, $"Deployment {name}: {words}; routing around it for {LinkAvoidance.TotalMinutes:0} min.");
            return (words + "; " + await ReplanAsync(runtime, new HashSet<string> { stalled.NodeId }, PlanChange.Unreachable, null, cancellationToken).ConfigureAwait(false),
                stalled.NodeId);
        }

        // Both ends of the link the failure names are alive, and the coordinator reaches the far one: the link between
        // them is cut. The far node is left out for this deployment (for a while).
        if (RecoveryRules.SuspectedCutLink(placed, failure.UnreachableEndpoint, NodesById()) is { } suspect)
        {
            var (up, down) = suspect;
            var problem = await _ports.Reachability.ProblemAsync(failure.UnreachableEndpoint!, ProbeTimeout, cancellationToken).ConfigureAwait(false);
            if (problem is null)
            {
                Avoid(runtime, [down.NodeId]);
                var link = $"the link from node {up.NodeName} to node {down.NodeName} is cut: stage {down.Index} ({DeploymentWords.Layers(down.FirstLayer, down.LastLayer)}) " +
                    $"on {down.NodeName} answers the coordinator but not stage {down.Index - 1} on {up.NodeName}";
                AddEvent("link-cut", down.NodeId, $"Deployment {name}: {link}; routing around {down.NodeName} for {LinkAvoidance.TotalMinutes:0} min.");
                return (link + "; " + await ReplanAsync(runtime, new HashSet<string> { down.NodeId }, PlanChange.LinkCut, null, cancellationToken).ConfigureAwait(false), down.NodeId);
            }
            _logger.LogDeploymentProblem(name, $"stage {down.Index} at {failure.UnreachableEndpoint} does not answer the coordinator either ({problem}): not a cut link");
        }

        // The pipeline can see a stage break before the membership sees its node go: wait (bounded) for it.
        var lost = await WaitForLostNodesAsync(runtime, cancellationToken).ConfigureAwait(false);
        if (lost.Count > 0)
            return (await ReplanAsync(runtime, lost, PlanChange.NodeLost, null, cancellationToken).ConfigureAwait(false), lost.First());

        // Every node is connected. A stage the coordinator cannot reach itself would fail the next pipeline as it failed
        // this one: its node is left out (for a while), as behind a cut link.
        lock (_gate)
            placed = runtime.Placed(replica);
        var problems = await ProbeAsync(placed, cancellationToken).ConfigureAwait(false);
        var unreachable = RecoveryRules.UnreachableNodes(placed, problems, NodesById());
        if (unreachable.Count > 0)
        {
            Avoid(runtime, unreachable);
            var words = string.Join("; ", placed
                .Where(s => unreachable.Contains(s.Stage.NodeId) && s.Endpoint is { } e && problems.GetValueOrDefault(e) is not null)
                .Select(s => $"stage {s.Stage.Index} on {s.Stage.NodeName} at {s.Endpoint} does not answer the coordinator ({problems[s.Endpoint!]}) while its agent is connected"));
            AddEvent("stage-unreachable", unreachable.First(), $"Deployment {name}: {words}; routing around it for {LinkAvoidance.TotalMinutes:0} min.");
            return (words + "; " + await ReplanAsync(runtime, unreachable, PlanChange.Unreachable, null, cancellationToken).ConfigureAwait(false), unreachable.First());
        }

        // No node is gone and every stage answers: a stage restarted or its process died on a live node. Start what is not running.
        lock (_gate)
        {
            foreach (var stage in runtime.Stages.Where(s => s.Stored.Replica == replica && s.State != StageStates.Ready))
                Send(runtime, stage);
        }
        return ("no node was lost; restarted the stages that were not running", null);
    }

    /// <summary>What keeps each stage reported ready from answering the coordinator (null: it answers), probed together.</summary>
    private async Task<Dictionary<string, string?>> ProbeAsync(IReadOnlyList<PlacedStage> stages, CancellationToken cancellationToken)
    {
        var endpoints = RecoveryRules.ReadyEndpoints(stages);
        var problems = await Task.WhenAll(endpoints.Select(e => _ports.Reachability.ProblemAsync(e, ProbeTimeout, cancellationToken))).ConfigureAwait(false);
        return endpoints.Zip(problems).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal);
    }

    /// <summary>Keeps the deployment off <paramref name="nodes"/> for <see cref="LinkAvoidance"/>.</summary>
    private void Avoid(Runtime runtime, IEnumerable<string> nodes)
    {
        var until = _time.GetTimestamp() + (long)(LinkAvoidance.TotalSeconds * _time.TimestampFrequency);
        lock (_gate)
        {
            foreach (var node in nodes)
                runtime.Avoided[node] = until;
        }
    }

    /// <summary>The nodes the deployment keeps off now (behind a cut link, or unreachable); expired entries are dropped.</summary>
    private HashSet<string> AvoidedNodes(Runtime runtime)
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            foreach (var expired in runtime.Avoided.Where(a => a.Value <= now).Select(a => a.Key).ToList())
                runtime.Avoided.Remove(expired);
            return [.. runtime.Avoided.Keys];
        }
    }

    /// <summary>The nodes of the deployment's stages that the membership no longer sees serving, waiting a bounded time for it to notice.</summary>
    private async Task<HashSet<string>> WaitForLostNodesAsync(Runtime runtime, CancellationToken cancellationToken)
    {
        var deadline = _time.GetTimestamp() + (long)(LossDetectionTimeout.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            List<StoredStage> stages;
            lock (_gate)
                stages = runtime.Stages.Select(s => s.Stored).ToList();
            var lost = RecoveryRules.LostNodes(stages, NodesById());
            if (lost.Count > 0 || _time.GetTimestamp() > deadline)
                return lost;
            await Task.Delay(RecoveryPoll, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Re-plans without <paramref name="excluded"/> (lost, draining, behind a cut link or unreachable, as
    /// <paramref name="change"/> says), swaps in the new stages, starts them and stores the plan; returns what happened,
    /// in words. Replaced stages on live nodes are stopped at once, or, when <paramref name="deferredStops"/> is given,
    /// listed there for the caller to stop once the pipeline has moved off them.
    /// </summary>
    private async Task<string> ReplanAsync(Runtime runtime, IReadOnlySet<string> excluded, PlanChange change, List<StageStop>? deferredStops,
        CancellationToken cancellationToken)
    {
        var draining = change == PlanChange.NodeDrained;
        var left = new HashSet<string>(excluded, StringComparer.Ordinal);
        left.UnionWith(AvoidedNodes(runtime));
        var nodes = _ports.Nodes.Snapshot();
        var cluster = Cluster(nodes, HoldingsBesides(runtime), left, draining ? NodeStatus.Draining : NodeStatus.Lost,
            ignoreLinks: runtime.Stored.Spec.IgnoreLinks == true);
        var request = PlanRequests.For(runtime.Stored, FactsOf(runtime).Profile) with { ExcludedDevices = PoolCluster.DevicesOf(left, nodes, runtime.Stored.Stages) };
        var result = PoolPlanner.Replan(PlanRequests.CurrentPlan(runtime.Stored), request, cluster, draining ? ReplanReason.NodeDrained : ReplanReason.NodeLost,
            PlannerOptions());
        if (!result.Succeeded)
            throw new PipelineException(change switch
            {
                PlanChange.NodeDrained => $"the pool cannot hold the model without the drained node: {result.Failure.Message}",
                PlanChange.LinkCut => $"the pool cannot hold the model without the node behind the cut link: {result.Failure.Message}",
                PlanChange.Unreachable => $"the pool cannot hold the model without the nodes the coordinator cannot reach: {result.Failure.Message}",
                _ => $"the pool cannot hold the model without the lost node: {result.Failure.Message}",
            }) { IsRetryable = true };

        var words = new StringBuilder();
        if (change == PlanChange.NodeLost)
        {
            lock (_gate)
            {
                var old = runtime.Stages;
                for (var i = 0; i < old.Length; i++)
                {
                    if (excluded.Contains(old[i].Stored.NodeId))
                        words.Append(CultureInfo.InvariantCulture, $"stage {i} ({DeploymentWords.Layers(old[i].Stored.FirstLayer, old[i].Stored.LastLayer)}) lost with node {old[i].Stored.NodeName}; ");
                }
            }
        }
        var dead = change == PlanChange.NodeLost ? excluded : new HashSet<string>();
        words.Append(await ApplyPlanAsync(runtime, result, dead, deferredStops, cancellationToken).ConfigureAwait(false));
        DeploymentMetrics.Replanned(runtime.Stored.Name, change);
        return words.ToString();
    }

    /// <summary>
    /// Makes <paramref name="result"/>'s plan the deployment's (<see cref="PlanSwap"/>): stages that keep their node,
    /// layers and index keep running, every other one is started; replaced stages are stopped (now, or listed in
    /// <paramref name="deferredStops"/>) except on <paramref name="deadNodes"/>, which cannot be told. Stores the plan;
    /// returns the moves in words.
    /// </summary>
    private async Task<string> ApplyPlanAsync(Runtime runtime, ReplanResult result, IReadOnlySet<string> deadNodes, List<StageStop>? deferredStops,
        CancellationToken cancellationToken)
    {
        var stored = runtime.Stored;
        var plan = result.Plan!;
        var model = new ModelFile(stored.ModelPath, stored.ModelSha256, stored.ModelBytes);
        var newStored = await StagesOfAsync(plan, stored,
            (layers, count, slice, ct) => _files.StageFileAsync(model, layers, count, slice, null, ct), cancellationToken).ConfigureAwait(false);

        lock (_gate)
        {
            if (runtime.Removed)
                throw new PipelineException($"deployment {stored.Name} was removed") { IsRetryable = true };
            var (stages, stops) = PlanSwap.Swap(runtime.Stages, newStored, s => s.Stored, s => new StageRuntime(s), deadNodes);
            foreach (var stop in stops)
            {
                if (deferredStops is not null)
                    deferredStops.Add(stop);
                else
                    SendStop(stored.Id, stop);
            }
            runtime.Stages = stages;
            runtime.Stored = stored with
            {
                Stages = newStored,
                Explanation = result.Explanation,
                PredictedTokensPerSecond = double.IsFinite(plan.SingleStreamTokensPerSecond) ? plan.SingleStreamTokensPerSecond : 0,
            };
            foreach (var stage in stages.Where(s => s.State == StageStates.Pending))
                Send(runtime, stage);
            PinFiles(runtime);
            UpdateState(runtime);
        }
        _ports.Store.Update(runtime.Stored, _time.GetUtcNow());
        runtime.Improvement.PlanChanged(Now());
        return DeploymentWords.Moves(result.Moves, NodeName);
    }

    /// <summary>Waits until every stage of the replica is ready and returns their endpoints in pipeline order.</summary>
    private async Task<IReadOnlyList<string>> WaitForReplicaAsync(Runtime runtime, int replica, CancellationToken cancellationToken)
    {
        var deadline = _time.GetTimestamp() + (long)(StageReadyTimeout.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            lock (_gate)
            {
                var stages = runtime.Stages.Where(s => s.Stored.Replica == replica).OrderBy(s => s.Stored.Index).ToList();
                if (stages.FirstOrDefault(s => s.State == StageStates.Failed) is { } failed)
                    throw new PipelineException($"stage {GlobalIndex(runtime, failed)} on {failed.Stored.NodeName} failed to start: {failed.Error}") { IsRetryable = true };
                if (stages.All(s => s.State == StageStates.Ready && s.Endpoint is not null))
                    return stages.Select(s => s.Endpoint!).ToArray();
            }
            if (_time.GetTimestamp() > deadline)
                throw new PipelineException($"the new stages were not ready within {StageReadyTimeout.TotalSeconds:0} s") { IsRetryable = true };
            await Task.Delay(RecoveryPoll, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>After a recovery, waits (bounded) for the paused sessions' first token and records the pause clients saw.</summary>
    private void WatchPause(Runtime runtime, int replica)
    {
        var service = runtime.Replicas[replica].Service;
        if (service is null || service.ActiveSessions == 0)
            return;
        var before = service.RecoveryStatistics;
        _ = Task.Run(async () =>
        {
            var deadline = _time.GetTimestamp() + (long)(PauseWatch.TotalSeconds * _time.TimestampFrequency);
            try
            {
                while (_time.GetTimestamp() < deadline)
                {
                    await Task.Delay(RecoveryPoll, _time, _stopping.Token).ConfigureAwait(false);
                    var now = service.RecoveryStatistics;
                    if (now.Recoveries > before.Recoveries && now.SessionsResumed > before.SessionsResumed)
                    {
                        AddEvent("sessions-resumed", null,
                            $"Deployment {runtime.Stored.Name}: sessions resumed after {DeploymentWords.Seconds(now.LastPause.TotalSeconds)} (the pause clients saw).");
                        return;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
    }
}
