using Microsoft.Extensions.Logging;
using Tessera.Distribution;
using Tessera.Engine.Backends;
using Tessera.Engine.Model;
using Tessera.Identity;
using Tessera.Planner;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// The coordinator's deployment controller. <see cref="CreateAsync"/> resolves the model (a local GGUF or hf://, into
/// the coordinator's content store, by SHA-256), plans it on the ready nodes, stores the deployment and sends each
/// stage's agent a <see cref="StartStageCommand"/>. Agents report <see cref="StageStatus"/>; once every stage of a
/// replica is ready the controller connects a pipeline through them and serves it at /v1 under the deployment's name
/// (<see cref="Router"/>). A reconcile loop re-sends commands to stages that are not running (after a coordinator
/// restart, an agent reconnecting, a broken pipeline); agents that still run a stage answer at once, so the controller
/// reattaches instead of reloading. Recovery, drains and improvements change the plan (partial files).
/// </summary>
/// <remarks>
/// The decisions are pure functions (<see cref="DeploymentRequestRules"/>, <see cref="PlanRequests"/>,
/// <see cref="PoolCluster"/>, <see cref="PlanSwap"/>, <see cref="ReconcileRules"/>, <see cref="RecoveryRules"/>,
/// <see cref="ImproveTimer"/>); this class carries them out through its <see cref="DeploymentPorts"/>, so tests run
/// it with substituted ports and a hand-stepped clock. A coordinator builds it with <see cref="CoordinatorDeployments"/>.
/// </remarks>
public sealed partial class DeploymentController : IAsyncDisposable
{
    private static readonly TimeSpan ReconcileInterval = TimeSpan.FromMilliseconds(500);
    private readonly DeploymentPorts _ports;
    private readonly ModelFiles _files;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly DeploymentControllerOptions _options;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _createGate = new(1, 1);
    private readonly Dictionary<string, Runtime> _byName = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    internal DeploymentController(DeploymentPorts ports, ModelFiles files, ILoggerFactory loggerFactory, TimeProvider time, DeploymentControllerOptions? options = null)
    {
        _options = options ?? DeploymentControllerOptions.Default;
        _options.Validate();
        _ports = ports;
        _files = files;
        _logger = loggerFactory.CreateLogger<DeploymentController>();
        _time = time;
        _speeds = new ObservedSpeeds(_options.Speeds);
        _hops = new ObservedHops(_options.Speeds);

        // The stored deployments are known before the coordinator listens: an agent that reconnects at once after a
        // coordinator restart reports its running stages, and a report for a deployment not yet loaded would be
        // answered with a stop (and the stage reloaded later) instead of a reattach.
        foreach (var stored in ports.Store.List())
        {
            var runtime = new Runtime(stored, NewImproveTimer()) { RestoredAt = _time.GetTimestamp() };
            _byName[stored.Name] = runtime;
            PinFiles(runtime);
            Router.Set(stored.Name, []);
        }
    }

    /// <summary>What the coordinator serves at /v1.</summary>
    public DeploymentRouter Router { get; } = new();

    /// <summary>The coordinator's link measurement (null where the controller runs without one, as in tests); started and stopped with the controller.</summary>
    public LinkMonitor? Links { get; internal set; }

    /// <summary>The coordinator's content store (models, slices), served to agents at /blobs.</summary>
    public ContentStore Content => _files.Content;

    /// <summary>Repairs the stored deployments' files and starts the reconcile loop. Call after the coordinator listens.</summary>
    public void Start()
    {
        if (_loop is not null)
            return;
        Links?.Start();
        _loop = Task.Run(async () =>
        {
            await RestoreAsync(_stopping.Token).ConfigureAwait(false);
            await ReconcileLoopAsync(_stopping.Token).ConfigureAwait(false);
        });
    }

    private async Task RestoreAsync(CancellationToken cancellationToken)
    {
        List<StoredDeployment> restored;
        lock (_gate)
            restored = _byName.Values.Select(r => r.Stored).ToList();
        foreach (var stored in restored)
        {
            try
            {
                // Slices evicted from the cache are cut again from the model.
                await _files.RepairAsync(stored, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or FileNotFoundException or ChecksumMismatchException)
            {
                _logger.LogDeploymentProblem(stored.Name, "cannot restore its files: " + ex.Message);
            }
        }
    }

    // ---------------------------------------------------------------- create

    /// <summary>Plans and starts a deployment and returns its view.</summary>
    /// <exception cref="DeploymentException">
    /// Invalid (bad input, a model Tessera cannot run), Conflict (the name is taken) or DoesNotFit (the pool cannot hold it).
    /// </exception>
    public async Task<DeploymentView> CreateAsync(DeploymentRequest request, CancellationToken cancellationToken)
    {
        var valid = DeploymentRequestRules.Validate(request);
        await _createGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var model = await _files.ResolveAsync(valid.Model, cancellationToken).ConfigureAwait(false);
            var name = DeploymentRequestRules.NameOf(valid);
            lock (_gate)
            {
                if (_byName.ContainsKey(name))
                    throw new DeploymentException(DeploymentErrorKind.Conflict, $"A deployment named '{name}' exists already; remove it with `tessera undeploy {name}` or choose another --name.");
            }

            using var open = _files.Open(model, name, valid.Model);
            var (draft, cluster, result) = PlanNew(valid, name, model, open);
            if (!result.Succeeded)
                throw new DeploymentException(DeploymentErrorKind.DoesNotFit, result.Failure.Message);
            var plan = result.Plan;

            var stages = await StagesOfAsync(plan, draft, open.StageFileAsync, cancellationToken).ConfigureAwait(false);
            var stored = draft with
            {
                // Replicas the planner chose stay that many: repairs and improvements keep the count.
                Spec = draft.Spec.AutoReplicas == true ? draft.Spec with { Replicas = plan.Pipelines.Count, AutoReplicas = null } : draft.Spec,
                Stages = stages,
                PredictedTokensPerSecond = double.IsFinite(plan.SingleStreamTokensPerSecond) ? plan.SingleStreamTokensPerSecond : 0,
                Explanation = plan.Explanation,
            };
            _ports.Store.Insert(stored, DeploymentStates.Deploying, _time.GetUtcNow());
            var runtime = new Runtime(stored, NewImproveTimer()) { Facts = open.Facts };
            lock (_gate)
            {
                runtime.Weighed(cluster);
                _byName[name] = runtime;
                PinFiles(runtime);
            }
            Router.Set(name, []);
            _logger.LogDeploymentCreated(name, stored.Id, stages.Count);
            lock (_gate)
            {
                foreach (var stage in runtime.Stages.Where(s => s.State is StageStates.Pending or StageStates.Waiting))
                    Send(runtime, stage);
                return View(runtime);
            }
        }
        finally
        {
            _createGate.Release();
        }
    }

    /// <summary>
    /// Plans a deployment as <see cref="CreateAsync"/> would, on the pool as it is now, and starts nothing: what
    /// <c>tessera plan</c> and <c>POST /api/plans</c> show. A local file is imported as for a deployment (by hard link);
    /// an hf:// model the coordinator does not hold is read for its header only, never downloaded.
    /// </summary>
    /// <exception cref="DeploymentException">Invalid (bad input, a model Tessera cannot run) or DoesNotFit (the message says what is missing).</exception>
    public async Task<PlanView> PlanAsync(DeploymentRequest request, int promptTokens, bool explain, CancellationToken cancellationToken)
    {
        if (promptTokens < 1)
            throw new DeploymentException(DeploymentErrorKind.Invalid, $"promptTokens must be at least 1 (got {promptTokens}).");
        var valid = DeploymentRequestRules.Validate(request);
        using var model = await _files.ResolveForPlanAsync(valid.Model, cancellationToken).ConfigureAwait(false);
        var name = DeploymentRequestRules.NameOf(valid);
        using var open = _files.Open(model.File, name, valid.Model);
        var (draft, _, result) = PlanNew(valid, name, model.File, open, r => r with { PromptTokens = promptTokens, Explain = explain });
        if (!result.Succeeded)
            throw new DeploymentException(DeploymentErrorKind.DoesNotFit, result.Failure.Message);
        return PlanViews.Of(draft, result.Plan, promptTokens);
    }

    /// <summary>The deployment a request describes (not stored) and the planner's answer for it on today's pool.</summary>
    private (StoredDeployment Draft, Tessera.Planner.ClusterDescription Cluster, PlanResult Result) PlanNew(ValidatedRequest valid, string name, ModelFile model,
        ModelFiles.OpenModel open, Func<PlanRequest, PlanRequest>? adjust = null)
    {
        var request = valid.Request;
        var contextLength = DeploymentRequestRules.ContextOf(request, open.Facts.ContextLength);
        var draft = new StoredDeployment(Secrets.NewId("dep_"), name, request with { Name = name, Activations = ActivationFormats.Name(valid.Activations) },
            model.Path, model.Sha256, model.Bytes, contextLength, request.MaxSessions ?? DeploymentRequestRules.DefaultMaxSessions,
            ActivationFormats.Name(valid.Activations), 0, string.Empty, [], _time.GetUtcNow());
        var nodes = _ports.Nodes.Snapshot();
        var cluster = Cluster(nodes, HoldingsBesides(except: null), ignoreLinks: request.IgnoreLinks == true);
        if (cluster.Devices.Count == 0)
            throw new DeploymentException(DeploymentErrorKind.DoesNotFit, "The pool has no ready node to run stages: start agents with `tessera join TOKEN` (or `tessera pool start` without --no-agent).");
        var planRequest = PlanRequests.For(draft, open.Facts.Profile);
        if (adjust is not null)
            planRequest = adjust(planRequest);
        var result = valid.Placement is { } placement
            ? PoolPlanner.Place(planRequest, cluster, PoolCluster.Placement(nodes, placement), PlannerOptions())
            : PoolPlanner.Plan(planRequest, cluster, PlannerOptions());
        return (draft, cluster, result);
    }

    /// <summary>
    /// The one way a plan becomes stored stages with their files: a stage that keeps its replica, node and layers keeps
    /// its stored file (and index from the plan); the others load the model, or its slice when the deployment slices
    /// (as asked; else as its stages did so far; a new deployment slices pipelines of more than one stage).
    /// </summary>
    private async Task<List<StoredStage>> StagesOfAsync(Plan plan, StoredDeployment deployment,
        Func<LayerRange, int, bool, CancellationToken, Task<ModelFile>> stageFile, CancellationToken cancellationToken)
    {
        var current = deployment.Stages;
        var stages = new List<StoredStage>();
        foreach (var pipeline in plan.Pipelines)
        {
            var slice = deployment.Spec.Slice ?? (current.Count > 0 ? current.Any(s => s.FileSha256 != deployment.ModelSha256) : pipeline.Stages.Count > 1);
            foreach (var s in pipeline.Stages)
            {
                var kept = current.FirstOrDefault(o => o.Replica == s.Replica && o.DeviceId == s.DeviceId && o.FirstLayer == s.Layers.First && o.LastLayer == s.Layers.Last);
                if (kept is not null)
                {
                    stages.Add(kept with { Index = s.Index });
                    continue;
                }
                var file = await stageFile(new LayerRange(s.Layers.First, s.Layers.Last), plan.LayerCount, slice, cancellationToken).ConfigureAwait(false);
                stages.Add(new StoredStage(s.Replica, s.Index, s.NodeId, s.NodeName, s.Layers.First, s.Layers.Last, s.WeightBytes, s.KvBytes,
                    s.TokenSeconds > 0 ? 1 / s.TokenSeconds : 0, file.Sha256, file.Bytes, file.Path) { Device = ComputeDevices.Local(s.DeviceId) });
            }
        }
        return stages;
    }

    /// <summary>Bytes the stages hold on each device: those of every deployment but <paramref name="except"/>, and those of all.</summary>
    private DeviceHoldings HoldingsBesides(Runtime? except)
    {
        lock (_gate)
        {
            return new DeviceHoldings(
                PoolCluster.Reserved(_byName.Values.Where(r => r != except).SelectMany(r => r.Stages).Select(s => s.Stored)),
                PoolCluster.Reserved(_byName.Values.SelectMany(r => r.Stages).Select(s => s.Stored)));
        }
    }

    /// <summary>The deployment's model facts, read from its file on first need after a restart.</summary>
    private ModelFacts FactsOf(Runtime runtime)
    {
        if (runtime.Facts is { } facts)
            return facts;
        var stored = runtime.Stored;
        facts = _files.ReadFacts(new ModelFile(stored.ModelPath, stored.ModelSha256, stored.ModelBytes), stored.Name);
        lock (_gate)
            runtime.Facts ??= facts;
        return runtime.Facts;
    }

    /// <summary>
    /// Keeps the files the deployment's plan uses (its model and its stages' slices) in the content store whatever its
    /// size limit; the files of replaced plans are no longer pinned, and are evicted at once when the store is over its
    /// limit. Caller holds the gate (or owns the runtime alone).
    /// </summary>
    private void PinFiles(Runtime runtime)
    {
        var pins = new[] { runtime.Stored.ModelSha256 }.Concat(runtime.Stored.Stages.Select(s => s.FileSha256)).Distinct(StringComparer.Ordinal)
            .Select(sha => _files.Content.Pin(ContentHash.Parse(sha))).ToList();
        UnpinFiles(runtime);
        runtime.Pins = pins;
        _files.Content.EnsureSpace();
    }

    private static void UnpinFiles(Runtime runtime)
    {
        foreach (var pin in runtime.Pins)
            pin.Dispose();
        runtime.Pins = [];
    }

    // ---------------------------------------------------------------- commands and reports

    /// <summary>Sends the stage's start command; caller holds the gate.</summary>
    private void Send(Runtime runtime, StageRuntime stage)
    {
        var d = runtime.Stored;
        var s = stage.Stored;
        var command = new StartStageCommand
        {
            DeploymentId = d.Id,
            DeploymentName = d.Name,
            StageIndex = GlobalIndex(runtime, stage),
            FirstLayer = s.FirstLayer,
            LastLayer = s.LastLayer,
            ModelSha256 = s.FileSha256,
            ModelBytes = s.FileBytes,
            LocalPath = d.Spec.Fetch == true ? string.Empty : s.FilePath,
            Activations = d.Activations,
            ContextLength = d.ContextLength,
            Threads = d.Spec.Threads ?? 0,
            MaxSessions = d.MaxSessions,
            Device = s.Device,
        };
        if (_ports.RouteKeys is { } keys)
            command.RouteKey = Google.Protobuf.ByteString.CopyFrom(keys(d.Id));
        command.Sources.Add("https://" + _ports.CoordinatorAddress());
        var sent = _ports.Agents.TrySend(s.NodeId, new Command { CommandId = Secrets.NewId("cmd_"), StartStage = command });
        stage.LastSent = _time.GetUtcNow();
        stage.State = sent ? StageStates.Starting : StageStates.Waiting;
    }

    private void SendStop(string deploymentId, StageStop stop) =>
        _ports.Agents.TrySend(stop.NodeId, new Command
        {
            CommandId = Secrets.NewId("cmd_"),
            StopStage = new StopStageCommand { DeploymentId = deploymentId, StageIndex = stop.Index, FirstLayer = stop.FirstLayer, LastLayer = stop.LastLayer, Device = stop.Device },
        });

    /// <summary>Stages are numbered across replicas (replica 0 first), so each has one index per deployment.</summary>
    private static int GlobalIndex(Runtime runtime, StageRuntime stage) => Array.IndexOf(runtime.Stages, stage);

    /// <summary>What an agent reports about one of its stages (fetching, loading, ready at an endpoint, failed, stopped).</summary>
    public void OnStageStatus(string nodeId, StageStatus status)
    {
        Runtime? runtime;
        StageRuntime? stage = null;
        lock (_gate)
        {
            runtime = _byName.Values.FirstOrDefault(r => r.Stored.Id == status.DeploymentId);
            if (runtime is not null && status.StageIndex >= 0 && status.StageIndex < runtime.Stages.Length)
                stage = runtime.Stages[status.StageIndex];
        }
        if (runtime is null || stage is null)
        {
            // A stage of a deployment that no longer exists (removed while the coordinator was away), or that a
            // re-plan dropped: stop it.
            if (status.State != StageStates.Stopped)
                _ports.Agents.TrySend(nodeId, new Command { CommandId = Secrets.NewId("cmd_"), StopStage = new StopStageCommand { DeploymentId = status.DeploymentId, StageIndex = runtime is null ? -1 : status.StageIndex } });
            return;
        }
        var address = _ports.Nodes.Snapshot().FirstOrDefault(n => n.Id == nodeId)?.Address;
        lock (_gate)
        {
            if (stage.Stored.NodeId != nodeId || stage.Stored.FileSha256 != status.ModelSha256 || stage.Stored.FirstLayer != status.FirstLayer || stage.Stored.LastLayer != status.LastLayer
                || stage.Stored.Device != ComputeDevices.Local(status.Device))
            {
                // A stage the plan replaced (a node that was cut off and came back, a stop that never arrived). While a
                // move is under way the old stages still serve and are stopped once the pipeline has switched.
                if (status.State != StageStates.Stopped && runtime.RecoveryGate.CurrentCount > 0)
                    SendStop(status.DeploymentId, new StageStop(nodeId, status.StageIndex, status.FirstLayer, status.LastLayer, ComputeDevices.Local(status.Device)));
                return;
            }
            if (status.State == StageStates.Stopped)
                return;
            var endpoint = string.IsNullOrEmpty(status.Endpoint) ? null : StageEndpoints.Peer(status.Endpoint, address, _ports.CoordinatorAddress());
            if (stage.DirectEndpoint is not null && endpoint is not null && stage.DirectEndpoint != endpoint)
                runtime.Replicas[stage.Stored.Replica].Broken = "a stage moved";
            if (status.State is StageStates.Fetching or StageStates.Loading)
                stage.Loaded = true;
            stage.State = status.State;
            if (endpoint is not null && endpoint != stage.DirectEndpoint)
                SetEndpoint(stage, endpoint, _ports.Relay is not null && _ports.Links?.IsUnreachable(nodeId) == true);
            stage.Error = string.IsNullOrEmpty(status.Error) ? null : status.Error;
            stage.BytesDone = status.BytesDone;
            stage.BytesTotal = status.BytesTotal;
            if (status.State == StageStates.Failed)
                _logger.LogDeploymentProblem(runtime.Stored.Name, $"stage {status.StageIndex} on {stage.Stored.NodeName} failed: {status.Error}");
        }
    }

    /// <summary>Where the pipeline dials <paramref name="stage"/> listening at <paramref name="direct"/>: there, or through the relay. Caller holds the gate.</summary>
    private void SetEndpoint(StageRuntime stage, string direct, bool relayed)
    {
        stage.DirectEndpoint = direct;
        stage.Relayed = false;
        stage.Endpoint = direct;
        if (!relayed || _ports.Relay is not { } relay)
            return;
        try
        {
            stage.Endpoint = relay.Through(stage.Stored.NodeId, direct);
            stage.Relayed = true;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException or ArgumentException)
        {
            _logger.LogDeploymentProblem("(relay)", $"cannot relay to stage {stage.Stored.Index} on {stage.Stored.NodeName}: {e.Message}");
        }
    }

    private void AddEvent(string kind, string? nodeId, string message)
    {
        try
        {
            _ports.Events.Add(kind, nodeId, message);
        }
        catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or ObjectDisposedException or InvalidOperationException)
        {
            _logger.LogDeploymentProblem("(events)", "cannot record an event: " + ex.Message);
        }
        _logger.LogDeploymentEvent(message);
    }

    /// <summary>The name of a node for events (its id when the pool no longer knows it).</summary>
    private string NodeName(string nodeId) => _ports.Nodes.Snapshot().FirstOrDefault(n => n.Id == nodeId)?.Name ?? nodeId;

    private Dictionary<string, PoolNode> NodesById() => _ports.Nodes.Snapshot().ToDictionary(n => n.Id, StringComparer.Ordinal);

    // ---------------------------------------------------------------- read and delete

    public IReadOnlyList<DeploymentView> List()
    {
        lock (_gate)
            return _byName.Values.OrderBy(r => r.Stored.CreatedAt).ThenBy(r => r.Stored.Name, StringComparer.Ordinal).Select(View).ToList();
    }

    /// <summary>
    /// Pairs of nodes whose stages are next to each other in a stored pipeline, and the coordinator's node with each first
    /// stage's when it is known: the links a token crosses, which link measurement keeps fresh.
    /// </summary>
    public IReadOnlyList<(string A, string B)> PipelineNeighbours(string? coordinatorNodeId)
    {
        var pairs = new List<(string, string)>();
        lock (_gate)
        {
            foreach (var runtime in _byName.Values)
            {
                foreach (var replica in runtime.Stored.Stages.GroupBy(s => s.Replica))
                {
                    var ordered = replica.OrderBy(s => s.Index).ToList();
                    if (coordinatorNodeId is not null && ordered.Count > 0)
                        pairs.Add((coordinatorNodeId, ordered[0].NodeId));
                    for (var i = 1; i < ordered.Count; i++)
                        pairs.Add((ordered[i - 1].NodeId, ordered[i].NodeId));
                }
            }
        }
        return pairs;
    }

    public DeploymentView? Find(string nameOrId)
    {
        lock (_gate)
            return FindRuntime(nameOrId) is { } runtime ? View(runtime) : null;
    }

    private Runtime? FindRuntime(string nameOrId) => _byName.GetValueOrDefault(nameOrId) ?? _byName.Values.FirstOrDefault(r => r.Stored.Id == nameOrId);

    /// <summary>Stops every stage of the deployment on its agents, stops serving it and forgets it.</summary>
    /// <exception cref="DeploymentException">NotFound: there is no such deployment.</exception>
    public async Task<DeploymentView> DeleteAsync(string nameOrId)
    {
        Runtime runtime;
        DeploymentView view;
        lock (_gate)
        {
            runtime = FindRuntime(nameOrId)
                ?? throw new DeploymentException(DeploymentErrorKind.NotFound, $"No deployment named '{nameOrId}'. List deployments with `tessera deployments`.");
            runtime.Removed = true;
            _byName.Remove(runtime.Stored.Name);
            UnpinFiles(runtime);
            foreach (var stage in runtime.Stages)
                stage.State = StageStates.Stopped;
            view = View(runtime) with { State = StageStates.Stopped };
        }
        _ports.Store.Delete(runtime.Stored.Id);
        Router.Remove(runtime.Stored.Name);
        foreach (var node in runtime.Stages.Select(s => s.Stored.NodeId).Distinct())
            _ports.Agents.TrySend(node, new Command { CommandId = Secrets.NewId("cmd_"), StopStage = new StopStageCommand { DeploymentId = runtime.Stored.Id, StageIndex = -1 } });
        foreach (var replica in runtime.Replicas)
        {
            if (replica.Service is { } service)
                await service.DisposeAsync().ConfigureAwait(false);
            replica.Service = null;
        }
        _logger.LogDeploymentRemoved(runtime.Stored.Name);
        return view;
    }

    /// <summary>The deployment as clients see it; caller holds the gate.</summary>
    private DeploymentView View(Runtime r)
    {
        var d = r.Stored;
        var now = Now();
        return new DeploymentView(d.Id, d.Name, d.Spec.Model ?? d.ModelPath, d.ModelSha256, d.ModelBytes, r.State, r.Error, d.ContextLength, d.MaxSessions,
            d.Activations, d.PredictedTokensPerSecond, d.Explanation,
            r.Stages.Select(s => new StageView(s.Stored.Replica, s.Stored.Index, s.Stored.NodeId, s.Stored.NodeName, s.Stored.FirstLayer, s.Stored.LastLayer,
                s.Stored.WeightBytes, s.Stored.KvBytes, s.Stored.PredictedTokensPerSecond, s.State, s.Endpoint, s.Error, s.BytesDone,
                s.BytesTotal > 0 ? s.BytesTotal : s.Stored.FileBytes) { Device = s.Stored.Device, ObservedGBps = _speeds.Observed(s.Stored.DeviceId, now) }).ToList(),
            d.CreatedAt);
    }

    public async ValueTask DisposeAsync()
    {
        if (Links is not null)
            await Links.DisposeAsync().ConfigureAwait(false);
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
        try
        {
            if (_observing is not null)
                await _observing.ConfigureAwait(false); // ends once stopping is cancelled; it logs any other failure itself
        }
        catch (OperationCanceledException)
        {
        }
        List<IPipelineService> services;
        lock (_gate)
            services = _byName.Values.SelectMany(r => r.Replicas).Where(r => r.Service is not null).Select(r => r.Service!).ToList();
        foreach (var service in services)
            await service.DisposeAsync().ConfigureAwait(false);
        if (_ports.Relay is IAsyncDisposable relay)
            await relay.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _createGate.Dispose();
    }

    private sealed class Runtime
    {
        public Runtime(StoredDeployment stored, ImproveTimer improvement)
        {
            Improvement = improvement;
            Stored = stored;
            Stages = stored.Stages.Select(s => new StageRuntime(s)).ToArray();
            Replicas = Enumerable.Range(0, stored.ReplicaCount).Select(i => new ReplicaRuntime(i)).ToArray();
        }

        /// <summary>The stored deployment; replaced (with <see cref="Stages"/>) when the plan changes.</summary>
        public StoredDeployment Stored { get; set; }
        public StageRuntime[] Stages { get; set; }

        /// <summary>One plan change at a time per deployment (replicas that break together take turns).</summary>
        public SemaphoreSlim RecoveryGate { get; } = new(1, 1);

        /// <summary>The content store's pins on the files of the current plan.</summary>
        public List<IDisposable> Pins { get; set; } = [];

        /// <summary>The model as the coordinator needs it, read once (at creation, or on first need after a restart).</summary>
        public ModelFacts? Facts { get; set; }

        public ReplicaRuntime[] Replicas { get; }
        public string State { get; set; } = DeploymentStates.Deploying;
        public string? Error { get; set; }
        public bool Removed { get; set; }

        /// <summary>The move off drained nodes under way or last done, if any.</summary>
        public Task? Draining { get; set; }

        /// <summary>Timestamp before which a failed drain is not tried again.</summary>
        public long DrainRetryAt { get; set; }

        /// <summary>When the coordinator loaded it from the store, until its first pipeline connects (then null).</summary>
        public long? RestoredAt { get; set; }

        /// <summary>When this deployment next looks for a better plan.</summary>
        public ImproveTimer Improvement { get; }

        /// <summary>The look for a better plan (and the move to it) under way or last done, if any.</summary>
        public Task? Improving { get; set; }

        /// <summary>Device id → the speed (GB/s) the plan was last weighed with (created, or checked for a better one); under the controller's gate.</summary>
        public Dictionary<string, double> WeighedSpeeds { get; } = new(StringComparer.Ordinal);

        /// <summary>Devices whose change of speed was announced since the plan was last weighed (one event each); under the controller's gate.</summary>
        public HashSet<string> SpeedNoticed { get; } = new(StringComparer.Ordinal);

        /// <summary>The plan was weighed on <paramref name="cluster"/>: its speeds are the new reference for noticing a change. Caller holds the gate.</summary>
        public void Weighed(Tessera.Planner.ClusterDescription cluster)
        {
            WeighedSpeeds.Clear();
            foreach (var device in cluster.Devices)
                WeighedSpeeds[device.Id] = device.MemoryBandwidthGBps;
            SpeedNoticed.Clear();
        }

        /// <summary>Nodes this deployment keeps off (behind a cut link, or unreachable), with the timestamp until which; under the controller's gate.</summary>
        public Dictionary<string, long> Avoided { get; } = new(StringComparer.Ordinal);

        /// <summary>The replica's stages in pipeline order, with their endpoints; caller holds the gate.</summary>
        public List<PlacedStage> Placed(int replica) =>
            Stages.Where(s => s.Stored.Replica == replica).OrderBy(s => s.Stored.Index)
                .Select(s => new PlacedStage(s.Stored, s.Endpoint, s.State == StageStates.Ready)).ToList();
    }

    private sealed class StageRuntime(StoredStage stored)
    {
        public StoredStage Stored { get; } = stored;
        public string State { get; set; } = StageStates.Pending;
        /// <summary>Where the pipeline dials the stage: <see cref="DirectEndpoint"/>, or the relay's front for it when <see cref="Relayed"/>.</summary>
        public string? Endpoint { get; set; }

        /// <summary>Where the stage listens, as others would dial it directly.</summary>
        public string? DirectEndpoint { get; set; }

        /// <summary>Nobody can dial the stage's node: connections to the stage go through the relay (decided once per endpoint, so a lane never moves).</summary>
        public bool Relayed { get; set; }

        public string? Error { get; set; }
        public long BytesDone { get; set; }
        public long BytesTotal { get; set; }
        public DateTimeOffset? LastSent { get; set; }

        /// <summary>The agent reported fetching or loading this stage's file since this coordinator started.</summary>
        public bool Loaded { get; set; }
    }

    private sealed class ReplicaRuntime(int index)
    {
        public int Index { get; } = index;
        public IPipelineService? Service { get; set; }
        public bool Connecting { get; set; }
        public string? Broken { get; set; }
    }
}
