using System.Globalization;
using System.Text;
using Tessera.Distribution;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
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
            var lostNodes = await WaitForLostNodesAsync(runtime, cancellationToken).ConfigureAwait(false);
            string summary;
            if (lostNodes.Count > 0)
                summary = await ReplanAsync(runtime, lostNodes, ReplanReason.NodeLost, null, cancellationToken).ConfigureAwait(false);
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

            var endpoints = await WaitForReplicaAsync(runtime, replica, cancellationToken).ConfigureAwait(false);
            var seconds = _time.GetElapsedTime(started).TotalSeconds;
            AddEvent("deployment-recovered", lostNodes.FirstOrDefault(),
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
    /// Re-plans without <paramref name="lostNodes"/> (lost or draining, as <paramref name="reason"/> says), swaps in the new
    /// stages, starts them and stores the plan; returns what happened, in words. Old stages on live nodes that the new plan
    /// drops are stopped at once, or, when <paramref name="deferredStops"/> is given, listed there for the caller to stop
    /// once the pipeline has moved off them.
    /// </summary>
    private async Task<string> ReplanAsync(Runtime runtime, HashSet<string> lostNodes, ReplanReason reason, List<(string NodeId, int Index)>? deferredStops,
        CancellationToken cancellationToken)
    {
        var stored = runtime.Stored;
        var request = PlanRequestOf(runtime);
        var draining = reason == ReplanReason.NodeDrained;
        var cluster = BuildCluster(runtime, lostNodes, draining ? NodeStatus.Draining : NodeStatus.Lost);
        var current = CurrentPlan(stored);
        var result = PoolPlanner.Replan(current, request with { ExcludedDevices = [.. lostNodes.Select(n => n + "/cpu")] }, cluster, reason);
        if (!result.Succeeded)
            throw new PipelineException(draining
                ? $"the pool cannot hold the model without the drained node: {result.Failure.Message}"
                : $"the pool cannot hold the model without the lost node: {result.Failure.Message}") { IsRetryable = true };

        var slice = stored.Stages.Any(s => s.FileSha256 != stored.ModelSha256);
        var newStored = new List<StoredStage>();
        foreach (var s in result.Plan.Pipelines.SelectMany(p => p.Stages))
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
                    s.Layers.First == 0, s.Layers.Last == current.LayerCount, cancellationToken).ConfigureAwait(false);
                fileSha = hash.Hex;
                filePath = Content.GetBlobPath(hash);
                fileBytes = Content.GetSize(hash);
            }
            newStored.Add(new StoredStage(s.Replica, s.Index, s.NodeId, s.NodeName, s.Layers.First, s.Layers.Last, s.WeightBytes, s.KvBytes,
                s.TokenSeconds > 0 ? 1 / s.TokenSeconds : 0, fileSha, fileBytes, filePath));
        }

        var words = new StringBuilder();
        lock (_gate)
        {
            if (runtime.Removed)
                throw new PipelineException($"deployment {stored.Name} was removed") { IsRetryable = true };
            var old = runtime.Stages;
            for (var i = 0; i < old.Length; i++)
            {
                if (lostNodes.Contains(old[i].Stored.NodeId) && !draining)
                    words.Append(CultureInfo.InvariantCulture, $"stage {i} ({LayerWords(old[i].Stored.FirstLayer, old[i].Stored.LastLayer)}) lost with node {old[i].Stored.NodeName}; ");
            }
            var stages = new StageRuntime[newStored.Count];
            for (var i = 0; i < stages.Length; i++)
            {
                // A stage that keeps its node, layers and index keeps running; every other one is started.
                var same = i < old.Length && old[i].Stored with { Index = 0 } == newStored[i] with { Index = 0 } ? old[i] : null;
                stages[i] = same ?? new StageRuntime(newStored[i]);
            }
            for (var i = 0; i < old.Length; i++)
            {
                var replaced = i >= stages.Length || stages[i] != old[i];
                var startsThere = i < stages.Length && stages[i].Stored.NodeId == old[i].Stored.NodeId;
                if (replaced && !startsThere && (draining || !lostNodes.Contains(old[i].Stored.NodeId)) && deferredStops is not null)
                    deferredStops.Add((old[i].Stored.NodeId, i));
                else if (replaced && !startsThere && !lostNodes.Contains(old[i].Stored.NodeId))
                    Pool.Membership.TrySendCommand(old[i].Stored.NodeId, new Command { CommandId = Tessera.Pool.Security.Secrets.NewId("cmd_"), StopStage = new StopStageCommand { DeploymentId = stored.Id, StageIndex = i } });
            }
            runtime.Stages = stages;
            runtime.Stored = stored with
            {
                Stages = newStored,
                Explanation = result.Explanation,
                PredictedTokensPerSecond = double.IsFinite(result.Plan.SingleStreamTokensPerSecond) ? result.Plan.SingleStreamTokensPerSecond : 0,
            };
            foreach (var stage in stages.Where(s => s.State == StageStates.Pending))
                Send(runtime, stage);
            UpdateState(runtime);
        }
        Store.Update(runtime.Stored, _time.GetUtcNow());

        var moves = result.Moves
            .Select(m => $"moved {LayerWords(m.Layers.First, m.Layers.Last)} to node {cluster.FindDevice(m.ToDeviceId)?.NodeName ?? m.ToDeviceId}")
            .ToList();
        words.Append(moves.Count == 0 ? "no layers moved" : string.Join(", ", moves));
        return words.ToString();
    }

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
