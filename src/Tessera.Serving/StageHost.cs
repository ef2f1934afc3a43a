using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Tessera.Engine.Model;
using Tessera.Engine.Sampling;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// Hosts one <see cref="TransformerStage"/> for the lanes that reach it (see stage.proto). One compute thread
/// gathers whatever work is ready on every lane (continuous batching), runs one forward pass, and sends each
/// lane's share on: hidden states to the next stage, or, at the last stage, the sampled tokens back up the
/// lane. Each session has its own KV cache here, freed when the session closes or its lane ends.
/// </summary>
public sealed partial class StageHost : IDisposable
{
    private readonly TransformerStage _stage;
    private readonly StageHostOptions _options;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly LinkedList<Pending> _pending = new();
    private readonly HashSet<Lane> _lanes = [];
    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly Thread _worker;
    private long _nextLaneId;
    private long _pendingTokens;
    private int _pendingOpens;
    private long _forwardCalls;
    private volatile bool _working; // a forward pass runs, or its output is not handed to the senders yet
    private long _tokensProcessed;
    private long _computeTicks;
    private long _decodePasses;
    private long _decodeTicks;
    private long _decodeHeadTicks;
    private long _decodeWaits;
    private long _decodeWaitTicks;
    private long _activationBytesReceived;
    private long _activationBytesSent;
    private bool _stopping;
    private readonly Lazy<Tessera.Generation.Constraints.TokenVocabulary?> _vocabulary;

    public StageHost(TransformerStage stage, StageHostOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxSessions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxLanes, 1);
        _stage = stage;
        _options = options;
        _vocabulary = new(() => options.Vocabulary?.Invoke());
        // f16 hidden states at every layer boundary make the output independent of the split (see RoundHiddenToHalf).
        stage.RoundHiddenToHalf = options.Activations == ActivationFormat.F16;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _worker = new Thread(Run) { IsBackground = true, Name = $"tessera-stage-{stage.Range}" };
        _worker.Start();
        if (options.Tls is { } tls)
            tls.Revocations.Changed += EndRevokedLanes;
    }

    /// <summary>Ends the lanes of callers whose certificate was just revoked: removal ends access on open connections too.</summary>
    private void EndRevokedLanes()
    {
        var revocations = _options.Tls!.Revocations;
        lock (_gate)
        {
            foreach (var lane in _lanes)
            {
                if (lane.CallerFingerprint is { } caller && revocations.IsRevoked(caller))
                    lane.Fail("the caller's certificate was revoked");
            }
        }
    }

    public TransformerStage Stage => _stage;

    public StageHostOptions Options => _options;

    /// <summary>Sessions holding a KV cache on this stage now, over all lanes.</summary>
    public int LiveSessions
    {
        get
        {
            lock (_gate)
                return _lanes.Sum(l => l.Sessions.Count);
        }
    }

    public StageStatus Status()
    {
        lock (_gate)
        {
            var c = _stage.Config;
            var now = System.Diagnostics.Stopwatch.GetTimestamp();
            var (waiting, sinceForward) = (TimeSpan.Zero, TimeSpan.Zero);
            foreach (var lane in _lanes)
            {
                if (!lane.Closed && lane.DownstreamWait(now) is var w && w.Waiting > waiting)
                    (waiting, sinceForward) = w;
            }
            return new StageStatus
            {
                Model = _options.ModelName,
                FirstLayer = _stage.Range.First,
                LastLayer = _stage.Range.Last,
                BlockCount = c.BlockCount,
                EmbeddingLength = c.EmbeddingLength,
                VocabSize = c.VocabSize,
                ContextLength = _stage.ContextLength,
                LiveSessions = _lanes.Sum(l => l.Sessions.Count),
                Lanes = _lanes.Count,
                ForwardCalls = _forwardCalls,
                TokensProcessed = _tokensProcessed,
                KvBytes = _lanes.Sum(l => l.Sessions.Values.Sum(s => s.Cache.ByteSize)),
                KvPositions = _lanes.Sum(l => l.Sessions.Values.Sum(s => (long)s.Cache.Length)),
                KvCapacityPositions = (long)_options.MaxSessions * _stage.ContextLength,
                ActivationBytesReceived = Interlocked.Read(ref _activationBytesReceived),
                ActivationBytesSent = Interlocked.Read(ref _activationBytesSent),
                Next = _options.Next ?? "",
                Backend = _stage.Backend.Name,
                ComputeSeconds = (double)Interlocked.Read(ref _computeTicks) / System.Diagnostics.Stopwatch.Frequency,
                DownstreamWaitingMs = waiting.TotalMilliseconds,
                LastForwardMsAgo = sinceForward.TotalMilliseconds,
                DecodePasses = Interlocked.Read(ref _decodePasses),
                DecodeSeconds = (double)Interlocked.Read(ref _decodeTicks) / System.Diagnostics.Stopwatch.Frequency,
                Idle = _pending.Count == 0 && !_working,
                DecodeWaits = Interlocked.Read(ref _decodeWaits),
                DecodeWaitSeconds = (double)Interlocked.Read(ref _decodeWaitTicks) / System.Diagnostics.Stopwatch.Frequency,
                DecodeHeadSeconds = (double)Interlocked.Read(ref _decodeHeadTicks) / System.Diagnostics.Stopwatch.Frequency,
                PoolingType = c.PoolingType ?? -1,
            };
        }
    }

    /// <summary>
    /// Serves one lane until the upstream ends it, it breaks, or the next stage fails (then the upstream gets
    /// <see cref="StatusCode.Unavailable"/>). Every session of the lane is freed on return.
    /// </summary>
    /// <param name="callerFingerprint">The caller's certificate (mutual TLS), by fingerprint; null without TLS.</param>
    /// <param name="localHost">The address this stage was reached on (how the first stage tells which stages share its machine); null when unknown.</param>
    public async Task RunLaneAsync(IAsyncStreamReader<StageInput> input, IServerStreamWriter<StageOutput> output, CancellationToken cancellation,
        string? callerFingerprint = null, string? localHost = null)
    {
        if (callerFingerprint is not null && _options.Tls is { } tls && tls.Revocations.IsRevoked(callerFingerprint))
            throw new RpcException(new Grpc.Core.Status(StatusCode.PermissionDenied, "Your node was removed from the pool: its certificate is revoked."));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        // The upstream's stream is written from the thread that has the message (the compute thread, the relay); a
        // failed write means the upstream is gone, and the lane ends through its reader.
        var up = new StreamSender<StageOutput>(m => output.WriteAsync(m), Lane.MaxOutputBacklog, merge: MergeUp);
        var lane = new Lane(Interlocked.Increment(ref _nextLaneId), cts, up) { CallerFingerprint = callerFingerprint };
        lock (_gate)
        {
            if (_lanes.Count >= _options.MaxLanes)
                throw new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, $"This stage serves {_options.MaxLanes} lanes already."));
            _lanes.Add(lane);
        }
        Task? down = null;
        Task? relay = null;
        AsyncDuplexStreamingCall<StageInput, StageOutput>? call = null;
        try
        {
            if (!await input.MoveNext(cts.Token).ConfigureAwait(false))
                return;
            var first = input.Current;
            StageInputBounds.CheckRoute(first.Route);
            if (_options.RouteKey is { } key && RouteTickets.Check(first, key, (_options.Tls?.Time ?? TimeProvider.System).GetUtcNow()) is { } refused)
                throw new RpcException(new Grpc.Core.Status(StatusCode.PermissionDenied, $"This stage refuses the lane: {refused}."));
            if (!_stage.IsLast)
            {
                var next = first.Route.Count > 0 ? first.Route[0] : _options.Next;
                if (string.IsNullOrEmpty(next))
                    throw new RpcException(new Grpc.Core.Status(StatusCode.FailedPrecondition,
                        $"This stage runs layers {_stage.Range} of {_stage.Config.BlockCount} and has no next stage: start it with --next HOST:PORT or name the route."));
                lane.Next = next;
                var client = new Stage.StageClient(_channels.GetOrAdd(next, e => StageChannels.Create(e, _options.Tls)));
                call = client.Run(cancellationToken: cts.Token);
                var routeMessage = new StageInput { Ticket = first.Ticket, TicketMac = first.TicketMac };
                routeMessage.Route.AddRange(first.Route.Skip(1));
                await call.RequestStream.WriteAsync(routeMessage).ConfigureAwait(false);
                var downstream = call.RequestStream;
                lane.Down = new StreamSender<StageInput>(m => downstream.WriteAsync(m), int.MaxValue, downstream.CompleteAsync, e => DownFailedAsync(lane, e));
                relay = RelayAsync(lane, call);
                lane.Relay = relay;
                down = lane.Down.Completion;
            }
            if (_stage.IsFirst)
                lane.Groups = _options.MicroBatches > 0 ? _options.MicroBatches : MicroBatching.Groups(localHost, lane.Next is null ? [] : [lane.Next, .. first.Route.Skip(1)]);
            LogLaneOpened(lane.Id, lane.Next ?? "(last stage)");
            Accept(lane, first);
            while (await input.MoveNext(cts.Token).ConfigureAwait(false))
                Accept(lane, input.Current);
        }
        catch (Exception e) when (lane.Failure is not null && e is OperationCanceledException or RpcException or IOException)
        {
            // The downstream's own answer (which stage it could not reach, if any) settles what a transport error only suggests.
            if (relay is not null)
                await Task.WhenAny(relay, Task.Delay(TimeSpan.FromSeconds(1))).ConfigureAwait(false);
            throw new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, lane.Failure), StageFailure.Trailers(lane.Unreachable));
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // the upstream went away: its sessions are freed below
            LogLaneBroken(lane.Id, e.Message);
        }
        finally
        {
            int freed;
            lock (_gate)
            {
                lane.Closed = true;
                freed = lane.Sessions.Count;
                foreach (var session in lane.Sessions.Values)
                    _retired.Add(session.Cache);
                lane.Sessions.Clear();
                Monitor.PulseAll(_gate); // the compute thread frees them
                _lanes.Remove(lane);
                for (var node = _pending.First; node != null;)
                {
                    var following = node.Next;
                    if (node.Value.Lane == lane)
                        RemovePending(node);
                    node = following;
                }
            }
            LogLaneClosed(lane.Id, freed);
            lane.Down?.Complete();
            if (down is not null)
                await down.ConfigureAwait(false);
            if (relay is not null)
                await Task.WhenAny(relay, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
            await cts.CancelAsync().ConfigureAwait(false);
            call?.Dispose();
            lane.Up.Complete();
            await lane.Up.Completion.ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        if (_options.Tls is { } tls)
            tls.Revocations.Changed -= EndRevokedLanes;
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        _worker.Join();
        foreach (var channel in _channels.Values)
            channel.Dispose();
    }

    /// <summary>
    /// Queues a lane's message: opens, work and closes, in that order. Every count and length is checked against the
    /// stage's bounds before anything is allocated for it: a message that breaks them ends its own lane (its caller's
    /// sessions), never the stage.
    /// </summary>
    private void Accept(Lane lane, StageInput message)
    {
        var d = _stage.Config.EmbeddingLength;
        var rows = StageInputBounds.CheckMessage(message, _stage.ContextLength, _stage.Config.VocabSize, _options.MaxSessions);
        lock (_gate)
        {
            // Work queued but not yet computed is bounded like the KV caches it will fill: sessions x context.
            if (_pendingTokens + rows > (long)_options.MaxSessions * _stage.ContextLength || _pendingOpens + message.Opens.Count > 2L * _options.MaxSessions)
                throw new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted,
                    $"This stage has {_pendingTokens} positions and {_pendingOpens} opens waiting; the lane sent more than it may queue."));
        }
        float[]? hidden = null;
        if (!_stage.IsFirst && rows > 0)
        {
            if (message.Format is not (ActivationFormat.F32 or ActivationFormat.F16 or ActivationFormat.Q8))
                throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, $"Unknown activation format {(int)message.Format}."));
            var expected = ActivationCodec.EncodedLength(message.Format, rows, d);
            if (message.Activations.Length != expected || rows * d > Array.MaxLength)
                throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument,
                    $"The message carries {message.Activations.Length} bytes of activations; {rows} positions of {d} values in {message.Format} need {expected}."));
            hidden = new float[rows * d];
            Interlocked.Add(ref _activationBytesReceived, message.Activations.Length);
            try
            {
                ActivationCodec.Decode(message.Format, message.Activations.Span, d, hidden);
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, e.Message));
            }
        }

        lock (_gate)
        {
            if (lane.Closed)
                return;
            foreach (var open in message.Opens)
            {
                _pending.AddLast(new Pending(PendingKind.Open, lane, open.Session) { Open = open });
                _pendingOpens++;
            }
            var row = 0;
            foreach (var w in message.Work)
            {
                var tokens = w.Tokens.ToArray();
                AddWork(new Pending(PendingKind.Work, lane, w.Session)
                {
                    Start = w.Start,
                    Tokens = tokens,
                    SampleStep = w.SampleStep,
                    Hidden = hidden,
                    HiddenRow = row,
                });
                row += tokens.Length;
            }
            foreach (var id in message.Closes)
            {
                if (lane.Sessions.TryGetValue(id, out var closing))
                    closing.Closing = true;
                // Work of a closed session that has not started is dropped: no one wants its result.
                for (var node = _pending.First; node != null;)
                {
                    var following = node.Next;
                    if (node.Value.Lane == lane && node.Value.Session == id && node.Value.Kind == PendingKind.Work)
                        RemovePending(node);
                    node = following;
                }
                _pending.AddLast(new Pending(PendingKind.Close, lane, id));
            }
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Queues work, counting its positions against the bound. Under the lock.</summary>
    private void AddWork(Pending work)
    {
        _pending.AddLast(work);
        _pendingTokens += work.Tokens.Length;
    }

    /// <summary>Drops a queued item, returning what it counted. Under the lock.</summary>
    private void RemovePending(LinkedListNode<Pending> node)
    {
        var item = node.Value;
        if (item.Kind == PendingKind.Work)
            _pendingTokens -= item.Tokens.Length - item.Done;
        else if (item.Kind == PendingKind.Open)
            _pendingOpens--;
        _pending.Remove(node);
    }

    /// <summary>One message for everything that waited to go up while a write was in flight.</summary>
    private static StageOutput MergeUp(Queue<StageOutput> waiting)
    {
        var merged = new StageOutput();
        while (waiting.TryDequeue(out var message))
        {
            merged.Tokens.Add(message.Tokens);
            merged.Failures.Add(message.Failures);
        }
        return merged;
    }

    /// <summary>A write to the next stage failed: find out which stage cannot be reached, then fail the lane.</summary>
    private static async Task DownFailedAsync(Lane lane, Exception e)
    {
        // A write also fails when the next stage ended the call with an answer of its own; failing the lane cancels
        // the call, which would hide that answer from the relay, so the relay reads it first.
        if (lane.Relay is { } relay)
            await Task.WhenAny(relay, Task.Delay(TimeSpan.FromSeconds(1))).ConfigureAwait(false);
        if (e is RpcException answer && StageFailure.IsFromStage(answer))
            lane.NoteUnreachable(StageFailure.Unreachable(answer, lane.Next!), fromDownstream: true);
        else if (lane.Failure is null)
            lane.NoteUnreachable(e is RpcException error ? StageFailure.Unreachable(error, lane.Next!) : lane.Next, fromDownstream: false);
        lane.Fail($"the next stage ({lane.Next}) cannot be reached: {e.Message}");
    }

    private async Task RelayAsync(Lane lane, AsyncDuplexStreamingCall<StageInput, StageOutput> call)
    {
        try
        {
            await foreach (var message in call.ResponseStream.ReadAllAsync().ConfigureAwait(false))
            {
                if (lane.NoteAnswered(System.Diagnostics.Stopwatch.GetTimestamp()) is > 0 and var waited)
                {
                    Interlocked.Add(ref _decodeWaitTicks, waited);
                    Interlocked.Increment(ref _decodeWaits);
                }
                if (_stage.IsFirst && message.Tokens.Count > 0)
                {
                    lock (_gate)
                    {
                        if (!lane.Closed)
                        {
                            foreach (var token in message.Tokens)
                                FeedBack(lane, token);
                        }
                    }
                }
                lane.SendUp(message);
            }
            lane.Fail($"the next stage ({lane.Next}) ended the lane");
        }
        catch (RpcException e)
        {
            // A cancellation this lane caused itself (it failed first) says nothing about the next stage.
            if (!(e.StatusCode == StatusCode.Cancelled && lane.Failure is not null))
                lane.NoteUnreachable(StageFailure.Unreachable(e, lane.Next!), fromDownstream: StageFailure.IsFromStage(e));
            lane.Fail($"the next stage ({lane.Next}) failed: {e.Status.Detail}");
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or OperationCanceledException)
        {
            if (lane.Failure is null)
                lane.NoteUnreachable(lane.Next, fromDownstream: false);
            lane.Fail($"the next stage ({lane.Next}) failed: {e.Message}");
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Lane {Lane} opened; next: {Next}")]
    private partial void LogLaneOpened(long lane, string next);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Lane {Lane} closed; {Freed} sessions freed")]
    private partial void LogLaneClosed(long lane, int freed);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Lane {Lane} broke: {Reason}")]
    private partial void LogLaneBroken(long lane, string reason);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "A forward pass over {Sessions} sessions failed")]
    private partial void LogForwardFailed(Exception error, int sessions);
}
