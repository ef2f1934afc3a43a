using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Tessera.Distribution;
using Tessera.Engine.Generation;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Identity;
using Tessera.Planner;
using Tessera.Pool.Client;
using Tessera.Pool.Coordinator;
using Tessera.Pool.Protocol;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// The coordinator's deployment controller. <see cref="CreateAsync"/> resolves the model (a local GGUF or hf://, into
/// the coordinator's content store, by SHA-256), plans it on the ready nodes, stores the deployment and sends each
/// stage's agent a <see cref="StartStageCommand"/>. Agents report <see cref="StageStatus"/>; once every stage of a
/// replica is ready the controller connects a <see cref="PipelineGenerationService"/> through them and serves it at
/// /v1 under the deployment's name (<see cref="Router"/>). A reconcile loop re-sends commands to stages that are not
/// running (after a coordinator restart, an agent reconnecting, a broken pipeline); agents that still run a stage
/// answer at once, so the controller reattaches instead of reloading.
/// </summary>
public sealed partial class DeploymentController : IAsyncDisposable
{
    private static readonly TimeSpan ReconcileInterval = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan ResendAfter = TimeSpan.FromSeconds(20);
    private readonly string _dataDirectory;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly DeploymentControllerOptions _options;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _createGate = new(1, 1);
    private readonly Dictionary<string, Runtime> _byName = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private CoordinatorContext? _pool;
    private IDeploymentStore? _store;
    private ContentStore? _content;
    private StageTls? _driverTls;
    private Task? _loop;

    public DeploymentController(string dataDirectory, ILoggerFactory loggerFactory, TimeProvider time, DeploymentControllerOptions? options = null)
    {
        _options = options ?? DeploymentControllerOptions.Default;
        _options.Validate();
        _dataDirectory = dataDirectory;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<DeploymentController>();
        _time = time;
    }

    /// <summary>What the coordinator serves at /v1.</summary>
    public DeploymentRouter Router { get; } = new();

    /// <summary>The coordinator's content store (models, slices), served to agents at /blobs.</summary>
    public ContentStore Content => _content ?? throw NotAttached();

    private CoordinatorContext Pool => _pool ?? throw NotAttached();

    private IDeploymentStore Store => _store ?? throw NotAttached();

    private static InvalidOperationException NotAttached() => new("The deployment controller is not attached to a coordinator yet.");

    /// <summary>Wires the controller to the coordinator (idempotent): the store, the content store, agents' reports, the driver's certificate.</summary>
    public void Attach(CoordinatorContext pool)
    {
        if (_pool is not null)
            return;
        _pool = pool;
        _store = new DeploymentStore(pool.Store.Database);
        _content = new ContentStore(Path.Combine(_dataDirectory, "content"), timeProvider: _time, logger: _loggerFactory.CreateLogger<ContentStore>());
        // The stored deployments are known before the coordinator listens: an agent that reconnects at once after a
        // coordinator restart reports its running stages, and a report for a deployment not yet loaded would be
        // answered with a stop (and the stage reloaded later) instead of a reattach.
        lock (_gate)
        {
            foreach (var stored in _store.List())
            {
                _byName[stored.Name] = new Runtime(stored, NewImproveTimer()) { RestoredAt = _time.GetTimestamp() };
                Router.Set(stored.Name, []);
            }
        }
        pool.AgentMessageObserver = OnAgentMessage;
        _driverTls = IssueDriverCertificate(pool);
    }

    /// <summary>
    /// The coordinator drives pipelines as a client of the stages: it gives itself a certificate of the pool CA
    /// (client authentication, like a node's), held in memory only.
    /// </summary>
    private StageTls IssueDriverCertificate(CoordinatorContext pool)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=driver", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        using var issued = pool.Authority.SignNodeRequest(csr, "driver_" + pool.PoolId, _time);
        using var withKey = issued.CopyWithPrivateKey(key);
        // Through PKCS#12 so the key is usable for TLS on every platform.
        var certificate = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        return new StageTls(certificate, pool.Authority.Certificate, _time);
    }

    /// <summary>Repairs the stored deployments' files and starts the reconcile loop. Call after the coordinator listens.</summary>
    public void Start()
    {
        if (_loop is not null)
            return;
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
                foreach (var stage in stored.Stages)
                {
                    if (!Content.Contains(ContentHash.Parse(stage.FileSha256)) && stage.FileSha256 != stored.ModelSha256)
                        await GgufSlicer.GetOrCreateAsync(Content, ContentHash.Parse(stored.ModelSha256), new LayerRange(stage.FirstLayer, stage.LastLayer),
                            stage.FirstLayer == 0, stage.LastLayer == LayerCountOf(stored), cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is IOException or FileNotFoundException or ChecksumMismatchException)
            {
                _logger.LogDeploymentProblem(stored.Name, "cannot restore its files: " + ex.Message);
            }
        }
    }

    private static int LayerCountOf(StoredDeployment d) => d.Stages.Max(s => s.LastLayer);

    // ---------------------------------------------------------------- create

    /// <summary>Outcome of an API call: an HTTP status and a body (a view or an error message).</summary>
    public sealed record Outcome(int Status, DeploymentView? View, string? Error);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    private static partial Regex NamePattern();

    /// <summary>Plans and starts a deployment: 201 with its view, 400 for bad input, 409 for a taken name, 422 when it does not fit.</summary>
    public async Task<Outcome> CreateAsync(DeploymentRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Model))
            return new Outcome(400, null, "Give the model to deploy: a GGUF path on the coordinator's machine or hf://owner/repo/file.gguf.");
        var activations = (request.Activations ?? "f16").ToLowerInvariant();
        if (activations is not ("f16" or "f32" or "q8"))
            return new Outcome(400, null, $"Unknown activation format '{request.Activations}': use f16, f32 or q8.");
        if (request.Replicas is < 1 || request.Context is < 1 || request.MaxSessions is < 1 || request.MinStages is < 1 || request.Threads is < 0)
            return new Outcome(400, null, "replicas, context, max_sessions and min_stages must be at least 1 (threads at least 0).");

        await _createGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            string modelPath, sha;
            long size;
            try
            {
                (modelPath, sha, size) = await ResolveModelAsync(request.Model.Trim(), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HuggingFaceException or TransferException or ArgumentException or FormatException)
            {
                return new Outcome(400, null, ex.Message);
            }

            var name = string.IsNullOrWhiteSpace(request.Name) ? DefaultName(request.Model) : request.Name.Trim();
            if (!NamePattern().IsMatch(name))
                return new Outcome(400, null, $"'{name}' is not a deployment name: use letters, digits, '.', '_', ':' or '-' (at most 128).");
            lock (_gate)
            {
                if (_byName.ContainsKey(name))
                    return new Outcome(409, null, $"A deployment named '{name}' exists already; remove it with `tessera undeploy {name}` or choose another --name.");
            }

            ModelProfile profile;
            int contextLength;
            try
            {
                using var file = GgufFile.Open(modelPath);
                var config = ModelConfig.FromGguf(file);
                profile = ModelProfile.FromGguf(file, name);
                contextLength = request.Context ?? Math.Min(config.ContextLength, 4096);
            }
            catch (Exception ex) when (ex is InvalidDataException or NotSupportedException or FormatException or IOException or ArgumentException or KeyNotFoundException)
            {
                return new Outcome(400, null, $"{request.Model} is not a model Tessera can run: {ex.Message}");
            }

            var planRequest = new PlanRequest
            {
                Model = profile,
                ContextLength = contextLength,
                MaxSessions = request.MaxSessions ?? 4,
                Replicas = request.Replicas ?? 1,
                ActivationBytesPerElement = activations switch { "f32" => 4, "q8" => 1, _ => 2 },
                MinStages = request.MinStages ?? 1,
            };
            var cluster = BuildCluster();
            if (cluster.Devices.Count == 0)
                return new Outcome(422, null, "The pool has no ready node to run stages: start agents with `tessera join TOKEN` (or `tessera pool start` without --no-agent).");
            var result = PoolPlanner.Plan(planRequest, cluster);
            if (!result.Succeeded)
                return new Outcome(422, null, result.Failure.Message);
            var plan = result.Plan;

            var stages = new List<StoredStage>();
            var hash = ContentHash.Parse(sha);
            foreach (var pipeline in plan.Pipelines)
            {
                var slice = request.Slice ?? pipeline.Stages.Count > 1;
                foreach (var s in pipeline.Stages)
                {
                    string fileSha = sha, filePath = modelPath;
                    var fileBytes = size;
                    if (slice)
                    {
                        var sliceHash = await GgufSlicer.GetOrCreateAsync(Content, hash, new LayerRange(s.Layers.First, s.Layers.Last),
                            s.Layers.First == 0, s.Layers.Last == plan.LayerCount, cancellationToken).ConfigureAwait(false);
                        fileSha = sliceHash.Hex;
                        filePath = Content.GetBlobPath(sliceHash);
                        fileBytes = Content.GetSize(sliceHash);
                    }
                    stages.Add(new StoredStage(s.Replica, s.Index, s.NodeId, s.NodeName, s.Layers.First, s.Layers.Last, s.WeightBytes, s.KvBytes,
                        s.TokenSeconds > 0 ? 1 / s.TokenSeconds : 0, fileSha, fileBytes, filePath));
                }
            }
            var stored = new StoredDeployment(Secrets.NewId("dep_"), name,
                request with { Name = name, Activations = activations }, modelPath, sha, size, contextLength, planRequest.MaxSessions, activations,
                double.IsFinite(plan.SingleStreamTokensPerSecond) ? plan.SingleStreamTokensPerSecond : 0, plan.Explanation, stages, _time.GetUtcNow());
            Store.Insert(stored, DeploymentStates.Deploying, _time.GetUtcNow());
            var runtime = new Runtime(stored, NewImproveTimer());
            lock (_gate)
                _byName[name] = runtime;
            Router.Set(name, []);
            _logger.LogDeploymentCreated(name, stored.Id, stages.Count);
            SendStarts(runtime);
            return new Outcome(201, View(runtime), null);
        }
        finally
        {
            _createGate.Release();
        }
    }

    private static string DefaultName(string model)
    {
        var file = model.Replace('\\', '/');
        file = file[(file.LastIndexOf('/') + 1)..];
        if (file.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            file = file[..^5];
        return file.Length == 0 ? "model" : file;
    }

    /// <summary>The model in the content store: path, SHA-256 and size. A local file's hash is cached by path, size and time.</summary>
    private async Task<(string Path, string Sha256, long Size)> ResolveModelAsync(string model, CancellationToken cancellationToken)
    {
        if (HuggingFaceUri.IsHuggingFace(model))
        {
            using var downloader = new HuggingFaceDownloader(Content, logger: _loggerFactory.CreateLogger<HuggingFaceDownloader>(), timeProvider: _time);
            var download = await downloader.DownloadAsync(model, null, cancellationToken).ConfigureAwait(false);
            return (download.Path, download.Hash.Hex, download.Size);
        }
        var full = Path.GetFullPath(model);
        if (!File.Exists(full))
            throw new FileNotFoundException($"No file {full} on the coordinator's machine. Give a GGUF path there, or hf://owner/repo/file.gguf.");
        var info = new FileInfo(full);
        var key = string.Create(CultureInfo.InvariantCulture, $"file:{full}:{info.Length}:{info.LastWriteTimeUtc.Ticks}");
        if (!Content.TryGetRef(key, out var hash) || !Content.Contains(hash))
        {
            hash = await Content.ImportAsync(full, cancellationToken).ConfigureAwait(false);
            Content.SetRef(key, hash);
        }
        return (Content.GetBlobPath(hash), hash.Hex, Content.GetSize(hash));
    }

    /// <summary>The pool as the planner sees it: each ready, connected, undrained node's CPU with its free RAM (less what stages of deployments hold there).</summary>
    private ClusterDescription BuildCluster(Runtime? except = null, IReadOnlySet<string>? lostNodes = null, NodeStatus lostStatus = NodeStatus.Lost)
    {
        var reserved = new Dictionary<string, long>(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var stage in _byName.Values.Where(r => r != except).SelectMany(r => r.Stages))
                reserved[stage.Stored.NodeId] = reserved.GetValueOrDefault(stage.Stored.NodeId) + stage.Stored.WeightBytes + stage.Stored.KvBytes;
        }
        var devices = new List<DeviceInfo>();
        foreach (var node in Pool.Membership.ListNodes())
        {
            if (node.State != "ready" || !node.Connected || node.Drained || lostNodes?.Contains(node.Id) == true)
                continue;
            var free = Math.Max(0, node.RamFreeBytes - reserved.GetValueOrDefault(node.Id));
            devices.Add(new DeviceInfo(node.Id + "/cpu", node.Id, node.Name, DeviceKind.Cpu, free, node.Cpu.SpeedGBps > 0 ? node.Cpu.SpeedGBps : 5));
        }
        return new ClusterDescription
        {
            Devices = devices,
            NodeStates = lostNodes?.ToDictionary(id => id, _ => lostStatus, StringComparer.Ordinal) ?? new Dictionary<string, NodeStatus>(),
        };
    }

    // ---------------------------------------------------------------- commands and reports

    private void SendStarts(Runtime runtime)
    {
        foreach (var stage in runtime.Stages)
        {
            lock (_gate)
            {
                if (stage.State is StageStates.Pending or StageStates.Waiting)
                    Send(runtime, stage);
            }
        }
    }

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
        };
        command.Sources.Add("https://" + Pool.JoinAddress);
        var sent = Pool.Membership.TrySendCommand(s.NodeId, new Command { CommandId = Secrets.NewId("cmd_"), StartStage = command });
        stage.LastSent = _time.GetUtcNow();
        stage.State = sent ? StageStates.Starting : StageStates.Waiting;
    }

    /// <summary>Stages are numbered across replicas (replica 0 first), so each has one index per deployment.</summary>
    private static int GlobalIndex(Runtime runtime, StageRuntime stage) => Array.IndexOf(runtime.Stages, stage);

    private void OnAgentMessage(string nodeId, AgentMessage message)
    {
        if (message.KindCase != AgentMessage.KindOneofCase.StageStatus)
            return;
        var status = message.StageStatus;
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
                Pool.Membership.TrySendCommand(nodeId, new Command { CommandId = Secrets.NewId("cmd_"), StopStage = new StopStageCommand { DeploymentId = status.DeploymentId, StageIndex = runtime is null ? -1 : status.StageIndex } });
            return;
        }
        lock (_gate)
        {
            if (stage.Stored.NodeId != nodeId || stage.Stored.FileSha256 != status.ModelSha256 || stage.Stored.FirstLayer != status.FirstLayer || stage.Stored.LastLayer != status.LastLayer)
            {
                // A stage the plan replaced (a node that was cut off and came back, a stop that never arrived). While a
                // move is under way the old stages still serve and are stopped once the pipeline has switched.
                if (status.State != StageStates.Stopped && runtime.RecoveryGate.CurrentCount > 0)
                    SendStop(status.DeploymentId, new StageStop(nodeId, status.StageIndex, status.FirstLayer, status.LastLayer));
                return;
            }
            if (status.State == StageStates.Stopped)
                return;
            var endpoint = string.IsNullOrEmpty(status.Endpoint) ? null : PeerEndpoint(nodeId, status.Endpoint);
            if (stage.Endpoint is not null && endpoint is not null && stage.Endpoint != endpoint)
                runtime.Replicas[stage.Stored.Replica].Broken = "a stage moved";
            if (status.State is StageStates.Fetching or StageStates.Loading)
                stage.Loaded = true;
            stage.State = status.State;
            stage.Endpoint = endpoint ?? stage.Endpoint;
            stage.Error = string.IsNullOrEmpty(status.Error) ? null : status.Error;
            stage.BytesDone = status.BytesDone;
            stage.BytesTotal = status.BytesTotal;
            if (status.State == StageStates.Failed)
                _logger.LogDeploymentProblem(runtime.Stored.Name, $"stage {status.StageIndex} on {stage.Stored.NodeName} failed: {status.Error}");
        }
    }

    /// <summary>An endpoint others can dial: a stage listening on any address is reached at the address its node connects from.</summary>
    private string PeerEndpoint(string nodeId, string endpoint)
    {
        if (!IPEndPoint.TryParse(endpoint, out var parsed))
            return endpoint;
        if (!parsed.Address.Equals(IPAddress.Any) && !parsed.Address.Equals(IPAddress.IPv6Any))
            return endpoint;
        var address = Pool.Membership.FindNode(nodeId)?.Address;
        if (string.IsNullOrEmpty(address) || !IPAddress.TryParse(address, out var ip))
            ip = IPAddress.Loopback;
        // A node on the coordinator's own machine connects from loopback; peers elsewhere reach it at the advertised address.
        if (IPAddress.IsLoopback(ip) && IPEndPoint.TryParse(Pool.JoinAddress, out var advertised) && !IPAddress.IsLoopback(advertised.Address))
            ip = advertised.Address;
        return new IPEndPoint(ip, parsed.Port).ToString();
    }

    // ---------------------------------------------------------------- reconcile

    private async Task ReconcileLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(ReconcileInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                List<Runtime> runtimes;
                lock (_gate)
                    runtimes = _byName.Values.ToList();
                NoteReadyNodes(runtimes);
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
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ReconcileAsync(Runtime runtime, CancellationToken cancellationToken)
    {
        var nodes = Pool.Membership.ListNodes().ToDictionary(n => n.Id, StringComparer.Ordinal);
        var now = _time.GetUtcNow();
        var toConnect = new List<ReplicaRuntime>();
        var toDrop = new List<PipelineGenerationService>();
        lock (_gate)
        {
            if (runtime.Removed)
                return;
            // Stages on a drained node move away while it still serves them.
            StartDrain(runtime, runtime.Stages
                .Where(s => nodes.TryGetValue(s.Stored.NodeId, out var n) && n.Drained && n.Connected)
                .Select(s => s.Stored.NodeId)
                .ToHashSet(StringComparer.Ordinal));
            foreach (var stage in runtime.Stages)
            {
                var connected = nodes.TryGetValue(stage.Stored.NodeId, out var node) && node.Connected && node.State is "ready" or "draining";
                var replica = runtime.Replicas[stage.Stored.Replica];
                if (!connected)
                {
                    if (stage.State != StageStates.Waiting)
                    {
                        stage.State = StageStates.Waiting;
                        stage.Endpoint = null;
                        replica.Broken ??= $"node {stage.Stored.NodeName} is not connected";
                    }
                    continue;
                }
                var stale = stage.LastSent is null || now - stage.LastSent > ResendAfter;
                if (stage.State is StageStates.Pending or StageStates.Waiting || (stage.State is StageStates.Starting && stale))
                    Send(runtime, stage);
            }
            foreach (var replica in runtime.Replicas)
            {
                // A broken stage is the driver's to handle: it pauses its sessions and asks the recovery for a new
                // pipeline. Only when that gave up is the service dropped and the pipeline connected afresh.
                if (replica.Service is { } service && service.Driver.Failure is not null)
                {
                    _logger.LogDeploymentProblem(runtime.Stored.Name, $"replica {replica.Index} lost its pipeline ({service.Driver.Failure}); reconnecting");
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
        string[] endpoints;
        lock (_gate)
            endpoints = runtime.Stages.Where(s => s.Stored.Replica == replica.Index).OrderBy(s => s.Stored.Index).Select(s => s.Endpoint!).ToArray();
        PipelineGenerationService? service = null;
        try
        {
            service = await PipelineGenerationService.ConnectAsync(runtime.Stored.ModelPath, endpoints, new PipelineGenerationServiceOptions
            {
                Id = runtime.Stored.Name,
                Tls = _driverTls,
                MaxActiveSessions = runtime.Stored.MaxSessions,
                Recovery = new DeploymentRecovery(this, runtime, replica.Index),
            }, cancellationToken).ConfigureAwait(false);
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
        AddEvent("deployment-reattached", null, $"Deployment {runtime.Stored.Name}: {how}; serving {Seconds(seconds)} after the coordinator started.");
    }

    private void PublishRoutes(Runtime runtime)
    {
        List<PipelineGenerationService> services;
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
            Store.SetState(runtime.Stored.Id, state, _time.GetUtcNow());
        }
        runtime.Error = error;
    }

    // ---------------------------------------------------------------- read and delete

    public IReadOnlyList<DeploymentView> List()
    {
        lock (_gate)
            return _byName.Values.OrderBy(r => r.Stored.CreatedAt).ThenBy(r => r.Stored.Name, StringComparer.Ordinal).Select(View).ToList();
    }

    public DeploymentView? Find(string nameOrId)
    {
        lock (_gate)
        {
            var runtime = _byName.GetValueOrDefault(nameOrId) ?? _byName.Values.FirstOrDefault(r => r.Stored.Id == nameOrId);
            return runtime is null ? null : View(runtime);
        }
    }

    /// <summary>Stops every stage of the deployment on its agents, stops serving it and forgets it; null when there is none.</summary>
    public async Task<DeploymentView?> DeleteAsync(string nameOrId)
    {
        Runtime? runtime;
        DeploymentView view;
        lock (_gate)
        {
            runtime = _byName.GetValueOrDefault(nameOrId) ?? _byName.Values.FirstOrDefault(r => r.Stored.Id == nameOrId);
            if (runtime is null)
                return null;
            runtime.Removed = true;
            _byName.Remove(runtime.Stored.Name);
            foreach (var stage in runtime.Stages)
                stage.State = StageStates.Stopped;
            view = View(runtime) with { State = StageStates.Stopped };
        }
        Store.Delete(runtime.Stored.Id);
        Router.Remove(runtime.Stored.Name);
        foreach (var node in runtime.Stages.Select(s => s.Stored.NodeId).Distinct())
            Pool.Membership.TrySendCommand(node, new Command { CommandId = Secrets.NewId("cmd_"), StopStage = new StopStageCommand { DeploymentId = runtime.Stored.Id, StageIndex = -1 } });
        foreach (var replica in runtime.Replicas)
        {
            if (replica.Service is { } service)
                await service.DisposeAsync().ConfigureAwait(false);
            replica.Service = null;
        }
        _logger.LogDeploymentRemoved(runtime.Stored.Name);
        return view;
    }

    private DeploymentView View(Runtime r)
    {
        var d = r.Stored;
        return new DeploymentView(d.Id, d.Name, d.Spec.Model ?? d.ModelPath, d.ModelSha256, d.ModelBytes, r.State, r.Error, d.ContextLength, d.MaxSessions,
            d.Activations, d.PredictedTokensPerSecond, d.Explanation,
            r.Stages.Select(s => new StageView(s.Stored.Replica, s.Stored.Index, s.Stored.NodeId, s.Stored.NodeName, s.Stored.FirstLayer, s.Stored.LastLayer,
                s.Stored.WeightBytes, s.Stored.KvBytes, s.Stored.PredictedTokensPerSecond, s.State, s.Endpoint, s.Error, s.BytesDone,
                s.BytesTotal > 0 ? s.BytesTotal : s.Stored.FileBytes)).ToList(),
            d.CreatedAt);
    }

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
        List<PipelineGenerationService> services;
        lock (_gate)
            services = _byName.Values.SelectMany(r => r.Replicas).Where(r => r.Service is not null).Select(r => r.Service!).ToList();
        foreach (var service in services)
            await service.DisposeAsync().ConfigureAwait(false);
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
            Replicas = Enumerable.Range(0, stored.Stages.Count == 0 ? 0 : stored.Stages.Max(s => s.Replica) + 1).Select(i => new ReplicaRuntime(i)).ToArray();
        }

        /// <summary>The stored deployment; replaced (with <see cref="Stages"/>) when a recovery re-plans it.</summary>
        public StoredDeployment Stored { get; set; }
        public StageRuntime[] Stages { get; set; }

        /// <summary>One recovery at a time per deployment (replicas that break together take turns).</summary>
        public SemaphoreSlim RecoveryGate { get; } = new(1, 1);

        /// <summary>The model as the planner sees it, read from the GGUF on the first re-plan.</summary>
        public ModelProfile? Profile { get; set; }
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

        /// <summary>Nodes this deployment keeps off (behind a cut link), with the timestamp until which; under the controller's gate.</summary>
        public Dictionary<string, long> Avoided { get; } = new(StringComparer.Ordinal);
    }

    private sealed class StageRuntime(StoredStage stored)
    {
        public StoredStage Stored { get; } = stored;
        public string State { get; set; } = StageStates.Pending;
        public string? Endpoint { get; set; }
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
        public PipelineGenerationService? Service { get; set; }
        public bool Connecting { get; set; }
        public string? Broken { get; set; }
    }
}
