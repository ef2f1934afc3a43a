using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// The reconcile loop: every half second it tells deployments about nodes that became ready, moves stages off drained
/// nodes, (re)sends start commands to stages that are not running, drops pipelines whose recovery gave up and connects
/// replicas whose stages are all ready.
/// </summary>
public sealed partial class DeploymentController
{
    private async Task ReconcileLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(ReconcileInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                await ReconcileOnceAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One pass of the reconcile loop over every deployment.</summary>
    internal async Task ReconcileOnceAsync(CancellationToken cancellationToken)
    {
        List<Runtime> runtimes;
        lock (_gate)
            runtimes = _byName.Values.ToList();
        NoteReadyNodes(runtimes);
        ObserveSpeedsWhenDue(runtimes);
        foreach (var runtime in runtimes)
        {
            try
            {
                await ReconcileAsync(runtime, cancellationToken).ConfigureAwait(false);
                StartImprovementWhenDue(runtime);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _logger.LogDeploymentProblem(runtime.Stored.Name, ex.Message);
            }
        }
    }

    private async Task ReconcileAsync(Runtime runtime, CancellationToken cancellationToken)
    {
        var nodes = NodesById();
        var now = _time.GetUtcNow();
        var toConnect = new List<ReplicaRuntime>();
        var toDrop = new List<IPipelineService>();
        lock (_gate)
        {
            if (runtime.Removed)
                return;
            // Stages on a drained node move away while it still serves them.
            StartDrain(runtime, ReconcileRules.DrainedNodes(runtime.Stages.Select(s => s.Stored), nodes));
            foreach (var stage in runtime.Stages)
            {
                switch (ReconcileRules.ForStage(stage.State, stage.LastSent, nodes.GetValueOrDefault(stage.Stored.NodeId), now))
                {
                    case StageAction.Wait:
                        stage.State = StageStates.Waiting;
                        stage.Endpoint = null;
                        stage.DirectEndpoint = null;
                        runtime.Replicas[stage.Stored.Replica].Broken ??= $"node {stage.Stored.NodeName} is not connected";
                        break;
                    case StageAction.Send:
                        Send(runtime, stage);
                        break;
                }
            }
            foreach (var replica in runtime.Replicas)
            {
                // A broken stage is the pipeline's to handle: it pauses its sessions and asks the recovery for a new
                // pipeline. Only when that gave up is the service dropped and the pipeline connected afresh.
                if (replica.Service is { } service && service.Failure is not null)
                {
                    _logger.LogDeploymentProblem(runtime.Stored.Name, $"replica {replica.Index} lost its pipeline ({service.Failure}); reconnecting");
                    toDrop.Add(service);
                    replica.Service = null;
                    foreach (var stage in runtime.Stages.Where(s => s.Stored.Replica == replica.Index && s.State == StageStates.Ready))
                        stage.State = StageStates.Pending; // agents that still run it answer ready at once
                }
                replica.Broken = null;
                var stages = runtime.Stages.Where(s => s.Stored.Replica == replica.Index).ToList();
                if (replica.Service is null && !replica.Connecting && stages.All(s => s.State == StageStates.Ready && s.Endpoint is not null))
                {
                    replica.Connecting = true;
                    toConnect.Add(replica);
                }
            }
            UpdateState(runtime);
        }
        if (toDrop.Count > 0)
        {
            PublishRoutes(runtime);
            foreach (var service in toDrop)
                await service.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var replica in toConnect)
            await ConnectAsync(runtime, replica, cancellationToken).ConfigureAwait(false);
    }

    private async Task ConnectAsync(Runtime runtime, ReplicaRuntime replica, CancellationToken cancellationToken)
    {
        await RelayUndialableStagesAsync(runtime, replica, cancellationToken).ConfigureAwait(false);
        string[] endpoints;
        lock (_gate)
            endpoints = runtime.Placed(replica.Index).Select(s => s.Endpoint!).ToArray();
        IPipelineService? service = null;
        try
        {
            var target = new PipelineTarget(runtime.Stored.Name, runtime.Stored.MaxSessions, FactsOf(runtime))
            {
                Tickets = _ports.RouteKeys is { } keys ? new RouteTicketIssuer(keys(runtime.Stored.Id), runtime.Stored.Id, _time) : null,
            };
            service = await _ports.Pipelines.ConnectAsync(target, endpoints, new DeploymentRecovery(this, runtime, replica.Index), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogDeploymentProblem(runtime.Stored.Name, $"cannot connect the pipeline {string.Join(" -> ", endpoints)}: {ex.Message}");
        }
        var keep = false;
        lock (_gate)
        {
            replica.Connecting = false;
            if (service is not null && !runtime.Removed)
            {
                replica.Service = service;
                keep = true;
            }
            UpdateState(runtime);
        }
        if (!keep && service is not null)
            await service.DisposeAsync().ConfigureAwait(false);
        if (keep)
        {
            PublishRoutes(runtime);
            _logger.LogDeploymentReady(runtime.Stored.Name, string.Join(" -> ", endpoints));
            ReportReattached(runtime);
        }
    }

    /// <summary>
    /// Before a pipeline connects, each stage not already relayed is dialled directly: one that does not answer while
    /// its agent is connected sits behind NAT or a firewall that the link measurement has not caught yet (a node that
    /// just joined), and is reached through the relay from then on. Without a relay, nothing changes here: the failed
    /// connection goes to recovery, which routes around the node.
    /// </summary>
    private async Task RelayUndialableStagesAsync(Runtime runtime, ReplicaRuntime replica, CancellationToken cancellationToken)
    {
        if (_ports.Relay is not { } relay)
            return;
        List<StageRuntime> direct;
        lock (_gate)
            direct = runtime.Stages.Where(s => s.Stored.Replica == replica.Index && !s.Relayed && s.DirectEndpoint is not null).ToList();
        var problems = await Task.WhenAll(direct.Select(s => _ports.Reachability.ProblemAsync(s.DirectEndpoint!, RelayProbeTimeout, cancellationToken))).ConfigureAwait(false);
        var nodes = NodesById();
        for (var i = 0; i < direct.Count; i++)
        {
            var stage = direct[i];
            if (problems[i] is null || !nodes.TryGetValue(stage.Stored.NodeId, out var node) || !node.Connected)
                continue;
            string? through = null;
            lock (_gate)
            {
                if (stage.DirectEndpoint is { } endpoint && !stage.Relayed)
                {
                    SetEndpoint(stage, endpoint, relayed: true);
                    through = stage.Relayed ? stage.Endpoint : null;
                }
            }
            if (through is not null)
                AddEvent("stage-relayed", stage.Stored.NodeId, $"Deployment {runtime.Stored.Name}: stage {stage.Stored.Index} on {stage.Stored.NodeName} cannot be dialled at " +
                    $"{stage.DirectEndpoint} ({problems[i]}) while its agent is connected; reaching it through the relay (via {relay.Via}) at {through}.");
        }
    }

    /// <summary>How long the direct dial of a stage before its pipeline connects may take.</summary>
    private static readonly TimeSpan RelayProbeTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// The first pipeline of a deployment restored from the store (the coordinator restarted): tells, once, whether the
    /// agents kept their stages loaded (the promise of a restart) or some had to load their weights again.
    /// </summary>
    private void ReportReattached(Runtime runtime)
    {
        int reloaded, total;
        double seconds;
        lock (_gate)
        {
            if (runtime.RestoredAt is not { } restoredAt)
                return;
            runtime.RestoredAt = null;
            total = runtime.Stages.Length;
            reloaded = runtime.Stages.Count(s => s.Loaded);
            seconds = _time.GetElapsedTime(restoredAt).TotalSeconds;
        }
        var how = reloaded == 0
            ? $"reattached to its {total} running stages, which kept their loaded weights"
            : $"reconnected; {reloaded} of {total} stages had to load their weights again";
        AddEvent("deployment-reattached", null, $"Deployment {runtime.Stored.Name}: {how}; serving {DeploymentWords.Seconds(seconds)} after the coordinator started.");
    }

    private void PublishRoutes(Runtime runtime)
    {
        List<IPipelineService> services;
        bool removed;
        lock (_gate)
        {
            removed = runtime.Removed;
            services = runtime.Replicas.Where(r => r.Service is not null).Select(r => r.Service!).ToList();
        }
        if (removed)
            Router.Remove(runtime.Stored.Name);
        else
            Router.Set(runtime.Stored.Name, services);
    }

    /// <summary>Recomputes the deployment's state; caller holds the gate.</summary>
    private void UpdateState(Runtime runtime)
    {
        string state;
        string? error = null;
        var failed = runtime.Stages.FirstOrDefault(s => s.State == StageStates.Failed);
        if (failed is not null)
        {
            state = DeploymentStates.Failed;
            error = $"stage {GlobalIndex(runtime, failed)} on {failed.Stored.NodeName}: {failed.Error}";
        }
        else
        {
            state = runtime.Replicas.All(r => r.Service is not null) ? DeploymentStates.Ready : DeploymentStates.Deploying;
        }
        if (state != runtime.State)
        {
            runtime.State = state;
            _ports.Store.SetState(runtime.Stored.Id, state, _time.GetUtcNow());
        }
        runtime.Error = error;
    }
}
