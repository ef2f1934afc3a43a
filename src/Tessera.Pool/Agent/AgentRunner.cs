using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using System.Net.Sockets;
using System.Security.Authentication;
using Tessera.Identity;
using Tessera.Pool.Control;
using Tessera.Pool.Protocol;

namespace Tessera.Pool.Agent;

/// <summary>
/// Keeps one agent connected: opens the mutual-TLS stream, says hello, heartbeats, runs commands,
/// and reconnects with exponential backoff (with jitter) after any failure: network loss,
/// coordinator restart, or a connection that stopped acknowledging heartbeats.
/// </summary>
public sealed class AgentRunner
{
    private static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);
    private readonly NodeIdentity identity;
    private readonly AgentOptions options;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private Session? current;
    private bool coordinatorLacksControlLink;

    public AgentRunner(NodeIdentity identity, AgentOptions options, TimeProvider time, ILogger logger)
    {
        this.identity = identity;
        this.options = options;
        this.time = time;
        this.logger = logger;
        options.CommandHandler?.Attach(SendToCurrentAsync);
    }

    /// <summary>Writes to the stream of the current connection; dropped while there is none.</summary>
    private async Task SendToCurrentAsync(AgentMessage message, CancellationToken cancellationToken)
    {
        var session = Volatile.Read(ref current);
        if (session is null)
            return;
        try
        {
            await session.SendAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RpcException or IOException or InvalidOperationException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // The connection is going away; the handler's snapshot is resent after the next welcome.
        }
    }

    public async Task<AgentExit> RunAsync(CancellationToken cancellationToken)
    {
        var hardware = options.Hardware();
        var backoff = options.InitialBackoff;
        var attempt = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            attempt++;
            logger.LogConnecting(identity.File.Coordinator, attempt);
            var session = new Session(this, hardware);
            Volatile.Write(ref current, session);
            string reason;
            try
            {
                var exit = await session.RunAsync(cancellationToken).ConfigureAwait(false);
                if (exit is not null)
                    return exit;
                reason = "the coordinator closed the stream";
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.PermissionDenied or StatusCode.Unauthenticated)
            {
                logger.LogStopped(ex.Status.Detail);
                return new AgentExit(AgentExitReason.Refused, ex.Status.Detail);
            }
            catch (AgentRefusedException ex) when (ex.IsFinal)
            {
                logger.LogStopped(ex.Message);
                return new AgentExit(AgentExitReason.Refused, ex.Message);
            }
            catch (RpcException ex)
            {
                reason = string.IsNullOrEmpty(ex.Status.Detail) ? ex.StatusCode.ToString() : ex.Status.Detail;
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException or TimeoutException or InvalidOperationException
                or SocketException or AuthenticationException or InvalidDataException or AgentRefusedException)
            {
                reason = ex.Message;
            }
            if (session.Welcomed)
            {
                backoff = options.InitialBackoff;
                attempt = 0;
            }
            var delay = Jitter(backoff);
            logger.LogConnectionLost(identity.File.Coordinator, reason, (int)delay.TotalMilliseconds);
            try
            {
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.MaxBackoff.Ticks));
        }
        return new AgentExit(AgentExitReason.Stopped, "stopped");
    }

    /// <summary>
    /// The stream to the coordinator: the control link unless told otherwise, or gRPC Connect when the coordinator
    /// chose h2 over it (one that predates it; remembered for this runner's later connections).
    /// </summary>
    private async Task<ICoordinatorLink> OpenLinkAsync(CancellationToken cancellationToken)
    {
        var address = identity.File.Coordinator;
        if (options.Transport != AgentTransport.Grpc && !coordinatorLacksControlLink)
        {
            var control = await ControlCoordinatorLink.ConnectAsync(address, identity.CaCertificate, identity.Certificate, time, cancellationToken).ConfigureAwait(false);
            if (control is not null)
                return control;
            if (options.Transport == AgentTransport.Control)
                throw new InvalidOperationException($"the coordinator at {address} does not offer the control link (it predates it): upgrade it, or let the agent use gRPC");
            logger.LogControlLinkUnavailable(address);
            coordinatorLacksControlLink = true;
        }
        return new GrpcCoordinatorLink(address, identity.CaCertificate, identity.Certificate, time, cancellationToken);
    }

    private static TimeSpan Jitter(TimeSpan delay) => delay * (0.8 + (Random.Shared.NextDouble() * 0.4));

    /// <summary>One connection: from dialling to the end of the stream.</summary>
    private sealed class Session(AgentRunner owner, Protocol.Hardware hardware)
    {
        private readonly SemaphoreSlim _writeLock = new(1, 1);
        private readonly long[] _sentTimestamps = new long[64];
        private long _lastAck;
        private Exception? _heartbeatFailure;
        private TimeSpan _interval = DefaultInterval;
        private ICoordinatorLink? _link;
        private CancellationToken _token;

        public bool Welcomed { get; private set; }

        public Task SendAsync(AgentMessage message, CancellationToken cancellationToken)
        {
            var link = _link;
            if (link is null || !Welcomed || _token.IsCancellationRequested)
                return Task.CompletedTask;
            return WriteAsync(link, message, cancellationToken);
        }

        public async Task<AgentExit?> RunAsync(CancellationToken cancellationToken)
        {
            using var session = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await using var link = await owner.OpenLinkAsync(session.Token).ConfigureAwait(false);
            await WriteAsync(link, new AgentMessage
            {
                Hello = new Hello
                {
                    Name = owner.options.Name ?? owner.identity.File.Name,
                    Hardware = hardware,
                    AdvertisedEndpoint = owner.options.AdvertisedEndpoint?.Invoke() ?? string.Empty,
                },
            }, session.Token).ConfigureAwait(false);
            _lastAck = Stopwatch.GetTimestamp();
            _token = session.Token;
            _link = link;

            var heartbeats = HeartbeatLoopAsync(link, session);
            AgentExit? exit = null;
            try
            {
                while (await link.ReadAsync(session.Token).ConfigureAwait(false) is { } message)
                {
                    switch (message.KindCase)
                    {
                        case CoordinatorMessage.KindOneofCase.Welcome:
                            Welcomed = true;
                            if (message.Welcome.HeartbeatIntervalMs > 0)
                                _interval = TimeSpan.FromMilliseconds(message.Welcome.HeartbeatIntervalMs);
                            Volatile.Write(ref _lastAck, Stopwatch.GetTimestamp());
                            owner.logger.LogConnected(message.Welcome.PoolId, owner.identity.File.Coordinator, message.Welcome.NodeId, message.Welcome.State);
                            owner.options.OnWelcome?.Invoke(message.Welcome);
                            if (owner.options.CommandHandler is { } handler)
                            {
                                foreach (var report in handler.Snapshot())
                                    await WriteAsync(link, report, session.Token).ConfigureAwait(false);
                            }
                            break;
                        case CoordinatorMessage.KindOneofCase.HeartbeatAck:
                            var now = Stopwatch.GetTimestamp();
                            Volatile.Write(ref _lastAck, now);
                            var sent = _sentTimestamps[message.HeartbeatAck.Sequence % _sentTimestamps.Length];
                            if (sent != 0)
                                owner.options.OnHeartbeatAcknowledged?.Invoke(Stopwatch.GetElapsedTime(sent, now));
                            break;
                        case CoordinatorMessage.KindOneofCase.Command:
                            exit = await HandleCommandAsync(link, message.Command, session.Token).ConfigureAwait(false);
                            if (exit is not null)
                                return exit;
                            break;
                    }
                }
            }
            catch (Exception) when (Volatile.Read(ref _heartbeatFailure) is { } failure && !cancellationToken.IsCancellationRequested)
            {
                // The heartbeat side failed first (no acknowledgements, broken write): report that, not the cancellation it caused.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            }
            finally
            {
                await session.CancelAsync().ConfigureAwait(false);
                await heartbeats.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            }
            return exit;
        }

        private async Task HeartbeatLoopAsync(ICoordinatorLink link, CancellationTokenSource session)
        {
            try
            {
                long sequence = 0;
                while (!session.IsCancellationRequested)
                {
                    await Task.Delay(_interval, owner.time, session.Token).ConfigureAwait(false);
                    var silentFor = Stopwatch.GetElapsedTime(Volatile.Read(ref _lastAck));
                    if (silentFor > _interval * owner.options.MissedAcksBeforeReconnect)
                        throw new TimeoutException($"no acknowledgement from the coordinator for {silentFor.TotalSeconds:0.0} s");
                    sequence++;
                    _sentTimestamps[sequence % _sentTimestamps.Length] = Stopwatch.GetTimestamp();
                    await WriteAsync(link, new AgentMessage
                    {
                        Heartbeat = new Heartbeat { Sequence = sequence, SentUnixMs = owner.time.GetUtcNow().ToUnixTimeMilliseconds(), Metrics = owner.options.Metrics() },
                    }, session.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (!session.IsCancellationRequested)
            {
                Volatile.Write(ref _heartbeatFailure, ex);
                await session.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }

        private async Task<AgentExit?> HandleCommandAsync(ICoordinatorLink link, Command command, CancellationToken cancellationToken)
        {
            owner.logger.LogCommand(command.CommandId, command.KindCase.ToString());
            var result = new CommandResult { CommandId = command.CommandId, Ok = true };
            AgentExit? exit = null;
            switch (command.KindCase)
            {
                case Command.KindOneofCase.Drain:
                    break;
                case Command.KindOneofCase.Leave:
                    NodeIdentity.Retire(owner.options.DataDirectory);
                    exit = new AgentExit(AgentExitReason.Removed, $"This node was removed from the pool ({command.Leave.Reason}). Its identity was retired; to come back, join again with a new token.");
                    break;
                default:
                    var handled = owner.options.CommandHandler is { } handler
                        ? await handler.HandleAsync(command, cancellationToken).ConfigureAwait(false)
                        : null;
                    if (handled is not null)
                    {
                        result = handled;
                        result.CommandId = command.CommandId;
                        break;
                    }
                    result.Ok = false;
                    result.Error = $"this agent does not support the command {command.KindCase}";
                    break;
            }
            await WriteAsync(link, new AgentMessage { CommandResult = result }, cancellationToken).ConfigureAwait(false);
            return exit;
        }

        private async Task WriteAsync(ICoordinatorLink link, AgentMessage message, CancellationToken cancellationToken)
        {
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await link.WriteAsync(message, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }
        }
    }
}
