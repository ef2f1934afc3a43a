using System.Globalization;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// Moving a deployment off drained nodes (`tessera node drain`) without failing a request: the reconcile loop sees a
/// stage on a drained node and starts <see cref="DrainAsync"/>, which re-plans without those nodes
/// (<see cref="PlanChange.NodeDrained"/>), starts the new stages while the old ones still serve, waits until they are
/// ready, switches each replica's pipeline to them (<see cref="IPipelineService.MoveToAsync"/>: sessions pause, are
/// replayed on the new pipeline and go on) and only then stops the old stages. A better plan moves the same way
/// (<see cref="ImproveAsync"/>).
/// </summary>
public sealed partial class DeploymentController
{
    /// <summary>How long after a drain that could not be done the controller tries again (the pool may have grown).</summary>
    private static readonly TimeSpan DrainRetry = TimeSpan.FromSeconds(30);

    /// <summary>Starts moving the deployment off <paramref name="drained"/> unless a move is under way or failed recently; caller holds the gate.</summary>
    private void StartDrain(Runtime runtime, HashSet<string> drained)
    {
        if (drained.Count == 0 || runtime.Draining is { IsCompleted: false } || _time.GetTimestamp() < runtime.DrainRetryAt)
            return;
        runtime.Draining = Task.Run(() => DrainAsync(runtime, drained, _stopping.Token));
    }

    private async Task DrainAsync(Runtime runtime, HashSet<string> drained, CancellationToken cancellationToken)
    {
        var name = runtime.Stored.Name;
        var nodeNames = string.Join(", ", drained.Select(NodeName).Order(StringComparer.Ordinal));
        var started = _time.GetTimestamp();
        var stops = new List<StageStop>();
        var moved = new List<(IPipelineService Pipeline, PipelineRecoveryStatistics Before)>();
        string summary;
        await runtime.RecoveryGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        PlanSnapshot before;
        lock (_gate)
            before = new PlanSnapshot(runtime.Stored, runtime.Stages, runtime.Improvement.LastChange);
        try
        {
            summary = await ReplanAsync(runtime, drained, PlanChange.NodeDrained, stops, cancellationToken).ConfigureAwait(false);
            await SwitchReplicasAsync(runtime, moved, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Nothing switched yet: the old stages never stopped serving, so the old plan stays until the next try.
            if (moved.Count == 0 && runtime.Stages != before.Stages)
                Revert(runtime, before);
            runtime.DrainRetryAt = _time.GetTimestamp() + (long)(DrainRetry.TotalSeconds * _time.TimestampFrequency);
            AddEvent("drain-failed", drained.First(),
                $"Deployment {name}: cannot move off drained node {nodeNames} yet ({ex.Message}); trying again in {DrainRetry.TotalSeconds:0} s. Its stages keep serving meanwhile.");
            return;
        }
        finally
        {
            runtime.RecoveryGate.Release();
        }

        // The pipeline runs on the new stages: the old ones on drained nodes (and any the new plan dropped) stop.
        var finish = await FinishMoveAsync(runtime, stops, moved, started, cancellationToken).ConfigureAwait(false);
        AddEvent("node-drained", drained.First(), $"Deployment {name}: drained node {nodeNames}: {summary}; {finish}");
    }

    /// <summary>
    /// After a planned move: stops the replaced stages and waits (bounded) for the moved sessions' next token; says how
    /// long the switch took since <paramref name="started"/> and the pause the sessions saw, in words.
    /// </summary>
    private async Task<string> FinishMoveAsync(Runtime runtime, List<StageStop> stops, List<(IPipelineService Pipeline, PipelineRecoveryStatistics Before)> moved,
        long started, CancellationToken cancellationToken)
    {
        foreach (var stop in stops)
            SendStop(runtime.Stored.Id, stop);
        var switched = _time.GetElapsedTime(started).TotalSeconds;
        var pause = await WaitForResumeAsync(moved, cancellationToken).ConfigureAwait(false);
        return $"the new stages were serving after {DeploymentWords.Seconds(switched)}; " + pause;
    }

    /// <summary>
    /// Once every replica's new stages are ready, switches each serving replica's pipeline to them; returns the
    /// pipelines that moved, with their statistics before. A replica not serving yet connects to the new stages through
    /// the reconcile loop; one recovering from a failure gets them from its recovery (the stages are in place).
    /// <paramref name="moved"/> gets each pipeline that switched as it does, so a caller whose move fails half-way knows
    /// whether the old plan still serves.
    /// </summary>
    private async Task SwitchReplicasAsync(Runtime runtime, List<(IPipelineService Pipeline, PipelineRecoveryStatistics Before)> moved, CancellationToken cancellationToken)
    {
        int replicas;
        lock (_gate)
            replicas = runtime.Replicas.Length;
        var endpoints = new List<IReadOnlyList<string>>();
        for (var replica = 0; replica < replicas; replica++)
            endpoints.Add(await WaitForReplicaAsync(runtime, replica, cancellationToken).ConfigureAwait(false));
        for (var replica = 0; replica < replicas; replica++)
        {
            IPipelineService? pipeline;
            lock (_gate)
                pipeline = runtime.Replicas[replica].Service;
            if (pipeline is null || pipeline.Endpoints.SequenceEqual(endpoints[replica]))
                continue;
            var before = pipeline.RecoveryStatistics;
            if (await pipeline.MoveToAsync(endpoints[replica], cancellationToken).ConfigureAwait(false))
                moved.Add((pipeline, before));
        }
    }

    /// <summary>Waits (bounded) for the moved pipelines' sessions to produce their next token; says the pause they saw, in words.</summary>
    private async Task<string> WaitForResumeAsync(List<(IPipelineService Pipeline, PipelineRecoveryStatistics Before)> moved, CancellationToken cancellationToken)
    {
        if (moved.Count == 0)
            return "no session was running.";
        var deadline = _time.GetTimestamp() + (long)(PauseWatch.TotalSeconds * _time.TimestampFrequency);
        while (_time.GetTimestamp() < deadline)
        {
            var resumed = moved.Select(m => (m.Before, Now: m.Pipeline.RecoveryStatistics)).ToList();
            if (resumed.All(r => r.Now.SessionsResumed > r.Before.SessionsResumed))
            {
                var pause = resumed.Max(r => r.Now.LastPause);
                return string.Create(CultureInfo.InvariantCulture, $"sessions resumed after {pause.TotalMilliseconds:0} ms.");
            }
            if (moved.All(m => m.Pipeline.ActiveSessions == 0))
                return "the sessions had finished.";
            await Task.Delay(RecoveryPoll, _time, cancellationToken).ConfigureAwait(false);
        }
        return "sessions had not resumed after " + DeploymentWords.Seconds(PauseWatch.TotalSeconds) + ".";
    }

    /// <summary>The deployment's plan and stages before a move, to put back when the move fails.</summary>
    /// <param name="MadeAt">When that plan came into force.</param>
    private sealed record PlanSnapshot(StoredDeployment Stored, StageRuntime[] Stages, TimeSpan MadeAt);

    /// <summary>Puts <paramref name="snapshot"/>'s plan back and stops the stages started for the failed move; false when the deployment is gone.</summary>
    private bool Revert(Runtime runtime, PlanSnapshot snapshot)
    {
        List<StageStop> stops;
        lock (_gate)
        {
            if (runtime.Removed)
                return false;
            stops = PlanSwap.Stops(runtime.Stages, snapshot.Stages, s => s.Stored, new HashSet<string>());
            runtime.Stages = snapshot.Stages;
            runtime.Stored = snapshot.Stored;
            PinFiles(runtime);
            UpdateState(runtime);
        }
        _ports.Store.Update(snapshot.Stored, _time.GetUtcNow());
        foreach (var stop in stops)
            SendStop(snapshot.Stored.Id, stop);
        return true;
    }
}
