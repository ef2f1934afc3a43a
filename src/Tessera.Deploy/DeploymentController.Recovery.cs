using System.Globalization;
using System.Text;
using Tessera.Distribution;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Identity;
using Tessera.Planner;
using Tessera.Pool.Protocol;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// Recovery of a deployment whose pipeline lost a stage: the driver pauses its sessions and calls
/// <see cref="DeploymentRecovery.ReplaceAsync"/>; the controller finds the lost nodes, re-plans with
/// <see cref="PoolPlanner.Replan"/> (a spare node takes the lost layers, or neighbours extend), starts the new or
/// changed stages, waits until they are ready, stores the new plan and returns the pipeline to continue on.
/// </summary>
public sealed partial class DeploymentController
{
    /// <summary>How long the membership may take to see that a stage's node is gone after the driver saw the stage break.</summary>
    private static readonly TimeSpan LossDetectionTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long new stages may take to load before this try of the recovery gives up.</summary>
    private static readonly TimeSpan StageReadyTimeout = TimeSpan.FromSeconds(45);

    private static readonly TimeSpan RecoveryPoll = TimeSpan.FromMilliseconds(50);

    /// <summary>How long after a recovery the controller watches for the sessions' first token, to report the pause.</summary>
    private static readonly TimeSpan PauseWatch = TimeSpan.FromSeconds(30);

    /// <summary>How long the coordinator waits for a stage that its upstream could not reach to answer it directly.</summary>
    private static readonly TimeSpan LinkProbeTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How long a deployment keeps off a node behind a cut link. The pool does not measure links between agents yet, so
    /// it cannot see the link mend; after this the node may be planned again (and, if the link is still cut, is routed
    /// around again).
    /// </summary>
    private static readonly TimeSpan LinkAvoidance = TimeSpan.FromMinutes(10);

    /// <summary>What a plan change is for: it decides which replaced stages stop when, and how the change is told.</summary>
    private enum PlanChange
    {
        /// <summary>Nodes were lost: their stages cannot be told to stop; the rest stop at once (the pipeline is broken).</summary>
        NodeLost,

        /// <summary>Nodes are drained: every replaced stage stops after the pipeline has moved.</summary>
        NodeDrained,

        /// <summary>A link between two stages is cut: the far node is left out; replaced stages stop at once (the pipeline is broken).</summary>
        LinkCut,
    }

    /// <summary>The driver's recovery for one replica of a deployment.</summary>
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
            string summary;
            string? eventNode = null;
            if (failure.UnreachableEndpoint is { } unreachable && await FindCutLinkAsync(runtime, replica, unreachable, cancellationToken).ConfigureAwait(false) is { } cut)
            {
                // Both ends are alive and the coordinator reaches the far one: the link between them is cut. The far node is
                // treated as failed for this deployment (for a while), and the pipeline is re-planned without it.
                eventNode = cut.Downstream.NodeId;
                lock (_gate)
                    runtime.Avoided[cut.Downstream.NodeId] = _time.GetTimestamp() + (long)(LinkAvoidance.TotalSeconds * _time.TimestampFrequency);
                var link = $"the link from node {cut.Upstream.NodeName} to node {cut.Downstream.NodeName} is cut: stage {cut.Index} ({LayerWords(cut.Downstream.FirstLayer, cut.Downstream.LastLayer)}) " +
                    $"on {cut.Downstream.NodeName} answers the coordinator but not stage {cut.Index - 1} on {cut.Upstream.NodeName}";
                AddEvent("link-cut", eventNode, $"Deployment {name}: {link}; routing around {cut.Downstream.NodeName} for {LinkAvoidance.TotalMinutes:0} min.");
                summary = link + "; " + await ReplanAsync(runtime, [cut.Downstream.NodeId], PlanChange.LinkCut, null, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var lostNodes = await WaitForLostNodesAsync(runtime, cancellationToken).ConfigureAwait(false);
                eventNode = lostNodes.FirstOrDefault();
                if (lostNodes.Count > 0)
                    summary = await ReplanAsync(runtime, lostNodes, PlanChange.NodeLost, null, cancellationToken).ConfigureAwait(false);
                else
                {
                    // No node is gone: a stage restarted or its process died on a live node. Start what is not running.
                    lock (_gate)
                    {
                        foreach (var stage in runtime.Stages.Where(s => s.Stored.Replica == replica && s.State != StageStates.Ready))
                            Send(runtime, stage);
                    }
                    summary = "no node was lost; restarted the stages that were not running";
                }
            }

            var endpoints = await WaitForReplicaAsync(runtime, replica, cancellationToken).ConfigureAwait(false);
            var seconds = _time.GetElapsedTime(started).TotalSeconds;
            AddEvent("deployment-recovered", eventNode,
                $"Deployment {name}: {summary}; the pipeline was ready again after {Seconds(seconds)}.");
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

    /// <summary>
    /// The cut link behind a failure that names <paramref name="unreachable"/>, or null when it is not one: the stage
    /// before it could not reach it, yet both nodes are connected and the coordinator reaches the stage itself. The
    /// first stage's upstream is the coordinator, which cannot tell a cut link to it from a dead stage, so it never counts.
    /// </summary>
    private async Task<CutLink?> FindCutLinkAsync(Runtime runtime, int replica, string unreachable, CancellationToken cancellationToken)
    {
        StoredStage up, down;
        lock (_gate)
        {
            var stages = runtime.Stages.Where(s => s.Stored.Replica == replica).OrderBy(s => s.Stored.Index).ToList();
            var k = stages.FindIndex(s => s.Endpoint == unreachable);
            if (k <= 0)
                return null;
            up = stages[k - 1].Stored;
            down = stages[k].Stored;
        }
        if (up.NodeId == down.NodeId || !IsConnected(up.NodeId) || !IsConnected(down.NodeId))
            return null;
        var problem = await StageProbe.ProblemAsync(unreachable, _driverTls, LinkProbeTimeout, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            _logger.LogDeploymentProblem(runtime.Stored.Name, $"stage {down.Index} at {unreachable} does not answer the coordinator either ({problem}): not a cut link");
            return null;
        }
        return new CutLink(up, down, down.Index);
    }

    private bool IsConnected(string nodeId) => Pool.Membership.FindNode(nodeId) is { Connected: true, State: "ready" or "draining" };

    /// <summary>A link between the nodes of two consecutive stages that no longer carries traffic; <see cref="Index"/> is the downstream stage's.</summary>
    private sealed record CutLink(StoredStage Upstream, StoredStage Downstream, int Index);

    /// <summary>The nodes of the deployment's stages that the membership no longer sees connected, waiting a bounded time for it to notice.</summary>
    private async Task<HashSet<string>> WaitForLostNodesAsync(Runtime runtime, CancellationToken cancellationToken)
    {
        var deadline = _time.GetTimestamp() + (long)(LossDetectionTimeout.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            var nodes = Pool.Membership.ListNodes().ToDictionary(n => n.Id, StringComparer.Ordinal);
            List<StoredStage> stages;
            lock (_gate)
                stages = runtime.Stages.Select(s => s.Stored).ToList();
            var lost = stages
                .Where(s => !nodes.TryGetValue(s.NodeId, out var node) || !node.Connected || node.State is not ("ready" or "draining"))
                .Select(s => s.NodeId)
                .ToHashSet(StringComparer.Ordinal);
            if (lost.Count > 0 || _time.GetTimestamp() > deadline)
                return lost;
            // The driver can see a stage break before the membership sees its node disconnect.
            await Task.Delay(RecoveryPoll, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Re-plans without <paramref name="excluded"/> (lost, draining or behind a cut link, as <paramref name="change"/>
    /// says), swaps in the new stages, starts them and stores the plan; returns what happened, in words. Replaced stages
    /// on live nodes are stopped at once, or, when <paramref name="deferredStops"/> is given, listed there for the caller
    /// to stop once the pipeline has moved off them.
    /// </summary>
    private async Task<string> ReplanAsync(Runtime runtime, HashSet<string> excluded, PlanChange change, List<StageStop>? deferredStops,
        CancellationToken cancellationToken)
    {
        var stored = runtime.Stored;
        var request = PlanRequestOf(runtime);
        var draining = change == PlanChange.NodeDrained;
        var left = new HashSet<string>(excluded, StringComparer.Ordinal);
        left.UnionWith(AvoidedNodes(runtime));
        var cluster = BuildCluster(runtime, left, draining ? NodeStatus.Draining : NodeStatus.Lost);
        var result = PoolPlanner.Replan(CurrentPlan(stored), request with { ExcludedDevices = [.. left.Select(n => n + "/cpu")] }, cluster,
            draining ? ReplanReason.NodeDrained : ReplanReason.NodeLost);
        if (!result.Succeeded)
            throw new PipelineException(change switch
            {
                PlanChange.NodeDrained => $"the pool cannot hold the model without the drained node: {result.Failure.Message}",
                PlanChange.LinkCut => $"the pool cannot hold the model without the node behind the cut link: {result.Failure.Message}",
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
                        words.Append(CultureInfo.InvariantCulture, $"stage {i} ({LayerWords(old[i].Stored.FirstLayer, old[i].Stored.LastLayer)}) lost with node {old[i].Stored.NodeName}; ");
                }
            }
        }
        var dead = change == PlanChange.NodeLost ? excluded : [];
        words.Append(await ApplyPlanAsync(runtime, result, dead, deferredStops, cancellationToken).ConfigureAwait(false));
        return words.ToString();
    }

    /// <summary>
    /// Makes <paramref name="result"/>'s plan the deployment's: stages that keep their node, layers and index keep
    /// running, every other one is started; replaced stages are stopped (now, or listed in <paramref name="deferredStops"/>)
    /// except on <paramref name="deadNodes"/>, which cannot be told. Stores the plan; returns the moves in words.
    /// </summary>
    private async Task<string> ApplyPlanAsync(Runtime runtime, ReplanResult result, IReadOnlySet<string> deadNodes, List<StageStop>? deferredStops,
        CancellationToken cancellationToken)
    {
        var stored = runtime.Stored;
        var plan = result.Plan!;
        var slice = stored.Stages.Any(s => s.FileSha256 != stored.ModelSha256);
        var newStored = new List<StoredStage>();
        foreach (var s in plan.Pipelines.SelectMany(p => p.Stages))
        {
            var kept = stored.Stages.FirstOrDefault(o => o.Replica == s.Replica && o.NodeId == s.NodeId && o.FirstLayer == s.Layers.First && o.LastLayer == s.Layers.Last);
            if (kept is not null)
            {
                newStored.Add(kept with { Index = s.Index });
                continue;
            }
            string fileSha = stored.ModelSha256, filePath = stored.ModelPath;
            var fileBytes = stored.ModelBytes;
            if (slice)
            {
                var hash = await GgufSlicer.GetOrCreateAsync(Content, ContentHash.Parse(stored.ModelSha256), new LayerRange(s.Layers.First, s.Layers.Last),
                    s.Layers.First == 0, s.Layers.Last == plan.LayerCount, cancellationToken).ConfigureAwait(false);
                fileSha = hash.Hex;
                filePath = Content.GetBlobPath(hash);
                fileBytes = Content.GetSize(hash);
            }
            newStored.Add(new StoredStage(s.Replica, s.Index, s.NodeId, s.NodeName, s.Layers.First, s.Layers.Last, s.WeightBytes, s.KvBytes,
                s.TokenSeconds > 0 ? 1 / s.TokenSeconds : 0, fileSha, fileBytes, filePath));
        }

        lock (_gate)
        {
            if (runtime.Removed)
                throw new PipelineException($"deployment {stored.Name} was removed") { IsRetryable = true };
            var old = runtime.Stages;
            var stages = new StageRuntime[newStored.Count];
            for (var i = 0; i < stages.Length; i++)
            {
                // A stage that keeps its node, layers and index keeps running; every other one is started.
                var same = i < old.Length && old[i].Stored with { Index = 0 } == newStored[i] with { Index = 0 } ? old[i] : null;
                stages[i] = same ?? new StageRuntime(newStored[i]);
            }
            for (var i = 0; i < old.Length; i++)
            {
                // The agent keys a stage by index and layers, so a replaced stage runs on beside its replacement (even at
                // the same index on the same node) until it is stopped here.
                if ((i < stages.Length && stages[i] == old[i]) || deadNodes.Contains(old[i].Stored.NodeId))
                    continue;
                var stop = new StageStop(old[i].Stored.NodeId, i, old[i].Stored.FirstLayer, old[i].Stored.LastLayer);
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
            UpdateState(runtime);
        }
        Store.Update(runtime.Stored, _time.GetUtcNow());
        runtime.Improvement.PlanChanged(Now());
        return MoveWords(result.Moves);
    }

    /// <summary>"moved layers 2-3 from node b to node d, ...", or "no layers moved".</summary>
    private string MoveWords(IReadOnlyList<LayerMove> moves) => moves.Count == 0
        ? "no layers moved"
        : string.Join(", ", moves.Select(m => NodeOfDevice(m.FromDeviceId) is { } from
            ? $"moved {LayerWords(m.Layers.First, m.Layers.Last)} from node {from} to node {NodeOfDevice(m.ToDeviceId) ?? m.ToDeviceId}"
            : $"moved {LayerWords(m.Layers.First, m.Layers.Last)} to node {NodeOfDevice(m.ToDeviceId) ?? m.ToDeviceId}"));

    /// <summary>The name of the node of a planner device id ("node_x/cpu"), or null for the planner's placeholders.</summary>
    private string? NodeOfDevice(string deviceId)
    {
        var slash = deviceId.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
            return null;
        var id = deviceId[..slash];
        return Pool.Membership.FindNode(id)?.Name ?? id;
    }

    /// <summary>A stage to stop: its node, index and layers (the agent may run another stage at that index).</summary>
    private readonly record struct StageStop(string NodeId, int Index, int FirstLayer, int LastLayer);

    private void SendStop(string deploymentId, StageStop stop) =>
        Pool.Membership.TrySendCommand(stop.NodeId, new Command
        {
            CommandId = Secrets.NewId("cmd_"),
            StopStage = new StopStageCommand { DeploymentId = deploymentId, StageIndex = stop.Index, FirstLayer = stop.FirstLayer, LastLayer = stop.LastLayer },
        });

    /// <summary>Waits until every stage of the replica is ready and returns their endpoints in pipeline order.</summary>
    private async Task<IReadOnlyList<string>> WaitForReplicaAsync(Runtime runtime, int replica, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StageReadyTimeout);
        try
        {
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
                await Task.Delay(RecoveryPoll, _time, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PipelineException($"the new stages were not ready within {StageReadyTimeout.TotalSeconds:0} s") { IsRetryable = true };
        }
    }

    /// <summary>After a recovery, waits (bounded) for the paused sessions' first token and records the pause clients saw.</summary>
    private void WatchPause(Runtime runtime, int replica)
    {
        var service = runtime.Replicas[replica].Service;
        if (service is null || service.Driver.ActiveSessions == 0)
            return;
        var before = service.Driver.RecoveryStatistics;
        _ = Task.Run(async () =>
        {
            var deadline = _time.GetTimestamp() + (long)(PauseWatch.TotalSeconds * _time.TimestampFrequency);
            try
            {
                while (_time.GetTimestamp() < deadline)
                {
                    await Task.Delay(RecoveryPoll, _time, _stopping.Token).ConfigureAwait(false);
                    var now = service.Driver.RecoveryStatistics;
                    if (now.Recoveries > before.Recoveries && now.SessionsResumed > before.SessionsResumed)
                    {
                        AddEvent("sessions-resumed", null,
                            $"Deployment {runtime.Stored.Name}: sessions resumed after {Seconds(now.LastPause.TotalSeconds)} (the pause clients saw).");
                        return;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
    }

    private void AddEvent(string kind, string? nodeId, string message)
    {
        try
        {
            Pool.Store.AddEvent(_time.GetUtcNow(), kind, nodeId, message);
        }
        catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or ObjectDisposedException or InvalidOperationException)
        {
            _logger.LogDeploymentProblem("(events)", "cannot record an event: " + ex.Message);
        }
        _logger.LogDeploymentEvent(message);
    }

    private PlanRequest PlanRequestOf(Runtime runtime)
    {
        var stored = runtime.Stored;
        if (runtime.Profile is null)
        {
            using var file = GgufFile.Open(stored.ModelPath);
            runtime.Profile = ModelProfile.FromGguf(file, stored.Name);
        }
        return new PlanRequest
        {
            Model = runtime.Profile,
            ContextLength = stored.ContextLength,
            MaxSessions = stored.MaxSessions,
            Replicas = stored.Spec.Replicas ?? 1,
            ActivationBytesPerElement = stored.Activations switch { "f32" => 4, "q8" => 1, _ => 2 },
            // A repair moves as few layers as it can: neighbours that take a lost stage's layers leave fewer stages.
            MinStages = stored.Spec.MinStages ?? 1,
        };
    }

    /// <summary>The stored stages as the planner's plan (predictions from the stored speeds).</summary>
    private static Plan CurrentPlan(StoredDeployment stored) => new()
    {
        ModelName = stored.Name,
        LayerCount = LayerCountOf(stored),
        Explanation = stored.Explanation,
        Pipelines = stored.Stages.GroupBy(s => s.Replica).OrderBy(g => g.Key)
            .Select(g => new PipelinePlan(g.Key, g.OrderBy(s => s.Index)
                .Select(s => new PlanStage(s.Replica, s.Index, s.NodeId + "/cpu", s.NodeId, s.NodeName, new LayerSpan(s.FirstLayer, s.LastLayer),
                    s.WeightBytes, s.KvBytes, 0, 0, s.PredictedTokensPerSecond > 0 ? 1 / s.PredictedTokensPerSecond : 0, 0))
                .ToList()))
            .ToList(),
    };

    /// <summary>Layers [first, end) as people count them: "layers 2-3" for the third and fourth block, "layer 2" for one.</summary>
    private static string LayerWords(int first, int end) => end - first == 1
        ? string.Create(CultureInfo.InvariantCulture, $"layer {first}")
        : string.Create(CultureInfo.InvariantCulture, $"layers {first}-{end - 1}");

    private static string Seconds(double seconds) => seconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
}
