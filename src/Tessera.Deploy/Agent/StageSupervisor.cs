using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Tessera.Distribution;
using Tessera.Engine.Backends;
using Tessera.Engine.Model;
using Tessera.Identity;
using Tessera.Pool.Agent;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Serving;
using StageStatus = Tessera.Pool.Protocol.StageStatus;

namespace Tessera.Deploy;

/// <summary>
/// The agent's side of deployments: on <see cref="StartStageCommand"/> it fetches the stage's file into the agent's
/// content store (verified by SHA-256, resumable), or uses the coordinator's file in place when this machine sees it
/// with the right hash, starts a <see cref="StageServer"/> with mutual TLS (the node certificate, trusting the pool
/// CA) and reports each step with <see cref="StageStatus"/>. Stages keep running while the coordinator is away; after
/// a reconnection their statuses are sent again, so a restarted coordinator reattaches to them.
/// </summary>
public sealed class StageSupervisor : IAgentCommandHandler, IAsyncDisposable
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(500);
    private readonly NodeIdentity _identity;
    private readonly ContentStore _store;
    private readonly IPAddress _listen;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string Deployment, int Index, int First, int Last, string Device), RunningStage> _stages = new();
    private readonly ConcurrentDictionary<string, (long Size, DateTime Modified, string Hash)> _localHashes = new(StringComparer.Ordinal);
    private Func<AgentMessage, CancellationToken, Task> _send = static (_, _) => Task.CompletedTask;

    /// <param name="identity">The agent's certificates: the stage serves and fetches with them.</param>
    /// <param name="dataDirectory">The agent's data directory; the content store is its <c>content</c> folder.</param>
    /// <param name="listen">Address the stage servers listen on (port chosen per stage); any address by default.</param>
    /// <param name="cacheLimitBytes">The most bytes the agent's content store keeps; files of running stages are never evicted.</param>
    public StageSupervisor(NodeIdentity identity, string dataDirectory, ILoggerFactory loggerFactory, TimeProvider time, IPAddress? listen = null,
        long cacheLimitBytes = long.MaxValue)
    {
        _identity = identity;
        _store = new ContentStore(Path.Combine(dataDirectory, "content"), cacheLimitBytes, time, loggerFactory.CreateLogger<ContentStore>());
        _listen = listen ?? IPAddress.Any;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<StageSupervisor>();
        _time = time;
    }

    public ContentStore Store => _store;

    /// <summary>
    /// Creates each stage's backend for the device its command names (default: the CPU only). The CLI passes one that
    /// knows this machine's GPUs; a device it cannot open fails the stage with a message saying why.
    /// </summary>
    public IBackendFactory? Backends { get; init; }

    /// <summary>Fault injection only (tests): passed to every stage this agent runs (see <see cref="StageHostOptions.FaultSlowdown"/>).</summary>
    public Func<double>? FaultSlowdown { get; init; }

    /// <summary>Certificates of removed nodes, as the coordinator last sent them: every stage here refuses them.</summary>
    public CertificateRevocations Revocations { get; } = new();

    public void Attach(Func<AgentMessage, CancellationToken, Task> send) => _send = send;

    /// <summary>Whether a stage running here listens on <paramref name="port"/> (the relay connects only to those).</summary>
    public bool ServesPort(int port) => _stages.Values.Any(s => s.Server?.Endpoint.Port == port);

    /// <summary>
    /// Adds the figures of every stage serving here (at most <see cref="StageFigures.MaxPerNode"/>) to a heartbeat's
    /// <paramref name="metrics"/>: how the coordinator learns each stage's passes, traffic and KV cache without asking it.
    /// </summary>
    public Metrics WithStageFigures(Metrics metrics)
    {
        foreach (var stage in _stages.Values)
        {
            if (metrics.Stages.Count >= StageFigures.MaxPerNode)
                break;
            if (stage.Server is not { } server)
                continue;
            Tessera.Serving.Protocol.StageStatus status;
            try
            {
                status = server.Host.Status();
            }
            catch (ObjectDisposedException)
            {
                continue; // stopped while this heartbeat was made
            }
            metrics.Stages.Add(new StageMetrics
            {
                DeploymentId = stage.Command.DeploymentId,
                StageIndex = stage.Command.StageIndex,
                ForwardPasses = status.ForwardCalls,
                ForwardSeconds = status.ComputeSeconds,
                Positions = status.TokensProcessed,
                ActivationBytesReceived = status.ActivationBytesReceived,
                ActivationBytesSent = status.ActivationBytesSent,
                Sessions = status.LiveSessions,
                KvPositions = status.KvPositions,
                KvCapacityPositions = status.KvCapacityPositions,
                KvBytes = status.KvBytes,
            });
        }
        return metrics;
    }

    public IReadOnlyList<AgentMessage> Snapshot() =>
        _stages.Values.Select(s => new AgentMessage { StageStatus = s.Status.Clone() }).ToList();

    public Task<CommandResult?> HandleAsync(Command command, CancellationToken cancellationToken)
    {
        switch (command.KindCase)
        {
            case Command.KindOneofCase.StartStage:
                Start(command.StartStage);
                return Task.FromResult<CommandResult?>(new CommandResult { Ok = true });
            case Command.KindOneofCase.RevokeCertificates:
                Revocations.Replace(command.RevokeCertificates.Fingerprints);
                _logger.LogRevocations(Revocations.Count);
                return Task.FromResult<CommandResult?>(new CommandResult { Ok = true });
            case Command.KindOneofCase.StopStage:
                var stop = command.StopStage;
                var anyRange = stop.FirstLayer == 0 && stop.LastLayer == 0;
                var anyDevice = string.IsNullOrEmpty(stop.Device);
                foreach (var key in _stages.Keys.Where(k => k.Deployment == stop.DeploymentId && (stop.StageIndex < 0 || k.Index == stop.StageIndex)
                    && (anyRange || (k.First == stop.FirstLayer && k.Last == stop.LastLayer)) && (anyDevice || k.Device == ComputeDevices.Local(stop.Device))))
                {
                    if (_stages.TryRemove(key, out var stage))
                        _ = StopAsync(stage, report: true);
                }
                return Task.FromResult<CommandResult?>(new CommandResult { Ok = true });
            default:
                return Task.FromResult<CommandResult?>(null);
        }
    }

    private void Start(StartStageCommand command)
    {
        // The layer range and the device are part of a stage's identity: a planned move starts a stage with new layers (or
        // on another device of this machine) at an index whose old stage keeps serving until the pipeline has switched
        // and the controller stops it.
        command.Device = ComputeDevices.Local(command.Device);
        var key = (command.DeploymentId, command.StageIndex, command.FirstLayer, command.LastLayer, command.Device);
        if (_stages.TryGetValue(key, out var existing))
        {
            var same = existing.Command.ModelSha256 == command.ModelSha256 && existing.Command.FirstLayer == command.FirstLayer
                && existing.Command.LastLayer == command.LastLayer && existing.Command.Activations == command.Activations;
            if (same && existing.Status.State != StageStates.Failed)
            {
                _ = ReportAsync(existing);
                return;
            }
            if (_stages.TryRemove(key, out var old))
                _ = StopAsync(old, report: false);
        }
        var stage = new RunningStage(command);
        _stages[key] = stage;
        stage.Run = Task.Run(() => RunAsync(stage));
    }

    private async Task RunAsync(RunningStage stage)
    {
        var command = stage.Command;
        var token = stage.Stopping.Token;
        try
        {
            var path = await ResolveFileAsync(stage, token).ConfigureAwait(false);
            stage.Update(StageStates.Loading);
            await ReportAsync(stage).ConfigureAwait(false);
            var server = await StageServer.StartAsync(new StageServerOptions
            {
                ModelPath = path,
                Layers = new LayerRange(command.FirstLayer, command.LastLayer),
                Listen = new IPEndPoint(_listen, 0),
                Activations = ActivationFormats.Parse(command.Activations),
                Threads = command.Threads,
                ContextLength = command.ContextLength > 0 ? command.ContextLength : null,
                Tls = new StageTls(_identity.Certificate, _identity.CaCertificate, _time, Revocations),
                // Twice the deployment's sessions: a lane whose upstream died still holds its sessions while their replays arrive.
                MaxSessions = command.MaxSessions > 0 ? 2 * command.MaxSessions : StageHostOptions.DefaultMaxSessions,
                RouteKey = command.RouteKey.IsEmpty ? null : command.RouteKey.ToByteArray(),
                FaultSlowdown = FaultSlowdown,
                Device = command.Device,
                Backends = Backends,
            }, _loggerFactory, token).ConfigureAwait(false);
            stage.Server = server;
            if (token.IsCancellationRequested)
                return;
            stage.Update(StageStates.Ready, endpoint: server.Address);
            _logger.LogStageReady(command.StageIndex, command.DeploymentName, command.FirstLayer, command.LastLayer, server.Address, server.BackendName);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex)
        {
            _logger.LogStageFailed(command.StageIndex, command.DeploymentName, ex.Message);
            stage.Update(StageStates.Failed, error: ex.Message);
        }
        await ReportAsync(stage).ConfigureAwait(false);
    }

    /// <summary>The local path of the stage's file: the coordinator's file in place when it is here and intact, else the content store's copy.</summary>
    private async Task<string> ResolveFileAsync(RunningStage stage, CancellationToken token)
    {
        var command = stage.Command;
        var hash = ContentHash.Parse(command.ModelSha256);
        if (!string.IsNullOrEmpty(command.LocalPath) && File.Exists(command.LocalPath)
            && await LocalHashAsync(command.LocalPath, token).ConfigureAwait(false) == hash.Hex)
        {
            stage.Update(StageStates.Fetching, done: command.ModelBytes, total: command.ModelBytes);
            return command.LocalPath;
        }
        if (await _store.TryGetVerifiedAsync(hash, token).ConfigureAwait(false) is { } cached)
        {
            stage.Pin = _store.Pin(hash);
            return cached;
        }
        stage.Update(StageStates.Fetching, done: 0, total: command.ModelBytes);
        await ReportAsync(stage).ConfigureAwait(false);
        var sources = command.Sources.Select(s => new Uri(s)).ToList();
        using var http = new HttpClient(CoordinatorChannel.Handler(_identity.CaCertificate, _identity.Certificate, _time), disposeHandler: true)
        {
            Timeout = TimeSpan.FromMinutes(10),
        };
        var client = new TransferClient(http, _store, logger: _loggerFactory.CreateLogger<TransferClient>(), timeProvider: _time);
        var lastReport = Stopwatch.StartNew();
        var progress = new Progress<TransferProgress>(p =>
        {
            stage.Update(StageStates.Fetching, done: p.BytesDone, total: p.TotalBytes);
            if (lastReport.Elapsed >= ProgressInterval)
            {
                lastReport.Restart();
                _ = ReportAsync(stage);
            }
        });
        var path = await client.FetchAsync(hash, sources, progress, token).ConfigureAwait(false);
        stage.Pin = _store.Pin(hash);
        stage.Update(StageStates.Fetching, done: command.ModelBytes, total: command.ModelBytes);
        return path;
    }

    private async Task<string> LocalHashAsync(string path, CancellationToken token)
    {
        var info = new FileInfo(path);
        if (_localHashes.TryGetValue(path, out var known) && known.Size == info.Length && known.Modified == info.LastWriteTimeUtc)
            return known.Hash;
        var hash = (await ContentHash.OfFileAsync(path, token).ConfigureAwait(false)).Hex;
        _localHashes[path] = (info.Length, info.LastWriteTimeUtc, hash);
        return hash;
    }

    private async Task ReportAsync(RunningStage stage)
    {
        try
        {
            await _send(new AgentMessage { StageStatus = stage.Status.Clone() }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
        {
            // Resent with the snapshot after the next welcome.
        }
    }

    private async Task StopAsync(RunningStage stage, bool report)
    {
        await stage.Stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            if (stage.Run is { } run)
                await run.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
        }
        if (stage.Server is { } server)
            await server.DisposeAsync().ConfigureAwait(false);
        stage.Pin?.Dispose();
        stage.Stopping.Dispose();
        _logger.LogStageStopped(stage.Command.StageIndex, stage.Command.DeploymentName);
        if (report)
        {
            stage.Update(StageStates.Stopped);
            await ReportAsync(stage).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var key in _stages.Keys.ToList())
        {
            if (_stages.TryRemove(key, out var stage))
                await StopAsync(stage, report: false).ConfigureAwait(false);
        }
    }

    private sealed class RunningStage(StartStageCommand command)
    {
        private readonly Lock _gate = new();
        private StageStatus _status = new()
        {
            DeploymentId = command.DeploymentId,
            StageIndex = command.StageIndex,
            State = StageStates.Starting,
            ModelSha256 = command.ModelSha256,
            FirstLayer = command.FirstLayer,
            LastLayer = command.LastLayer,
            BytesTotal = command.ModelBytes,
            Device = command.Device,
        };

        public StartStageCommand Command { get; } = command;
        public CancellationTokenSource Stopping { get; } = new();
        public Task? Run { get; set; }
        public StageServer? Server { get; set; }
        public IDisposable? Pin { get; set; }

        public StageStatus Status
        {
            get { lock (_gate) return _status.Clone(); }
        }

        public void Update(string state, string? endpoint = null, string? error = null, long? done = null, long? total = null)
        {
            lock (_gate)
            {
                _status.State = state;
                _status.Endpoint = endpoint ?? _status.Endpoint;
                _status.Error = error ?? string.Empty;
                if (done is { } d)
                    _status.BytesDone = d;
                if (total is { } t)
                    _status.BytesTotal = t;
            }
        }
    }
}
