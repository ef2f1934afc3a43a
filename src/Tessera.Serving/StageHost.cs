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
    private long _forwardCalls;
    private long _tokensProcessed;
    private long _computeTicks;
    private bool _stopping;

    public StageHost(TransformerStage stage, StageHostOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchTokens, 1);
        _stage = stage;
        _options = options;
        // f16 hidden states at every layer boundary make the output independent of the split (see RoundHiddenToHalf).
        stage.RoundHiddenToHalf = options.Activations == ActivationFormat.F16;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _worker = new Thread(Run) { IsBackground = true, Name = $"tessera-stage-{stage.Range}" };
        _worker.Start();
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
                Next = _options.Next ?? "",
                Backend = _stage.Backend.Name,
                ComputeSeconds = (double)Interlocked.Read(ref _computeTicks) / System.Diagnostics.Stopwatch.Frequency,
            };
        }
    }

    /// <summary>
    /// Serves one lane until the upstream ends it, it breaks, or the next stage fails (then the upstream gets
    /// <see cref="StatusCode.Unavailable"/>). Every session of the lane is freed on return.
    /// </summary>
    public async Task RunLaneAsync(IAsyncStreamReader<StageInput> input, IServerStreamWriter<StageOutput> output, CancellationToken cancellation)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var lane = new Lane(Interlocked.Increment(ref _nextLaneId), cts);
        lock (_gate)
            _lanes.Add(lane);
        var up = PumpUpAsync(lane, output);
        Task? down = null;
        Task? relay = null;
        AsyncDuplexStreamingCall<StageInput, StageOutput>? call = null;
        try
        {
            if (!await input.MoveNext(cts.Token).ConfigureAwait(false))
                return;
            var first = input.Current;
            if (!_stage.IsLast)
            {
                var next = first.Route.Count > 0 ? first.Route[0] : _options.Next;
                if (string.IsNullOrEmpty(next))
                    throw new RpcException(new Grpc.Core.Status(StatusCode.FailedPrecondition,
                        $"This stage runs layers {_stage.Range} of {_stage.Config.BlockCount} and has no next stage: start it with --next HOST:PORT or name the route."));
                lane.Next = next;
                var client = new Stage.StageClient(_channels.GetOrAdd(next, e => StageChannels.Create(e, _options.Tls)));
                call = client.Run(cancellationToken: cts.Token);
                var routeMessage = new StageInput();
                routeMessage.Route.AddRange(first.Route.Skip(1));
                await call.RequestStream.WriteAsync(routeMessage).ConfigureAwait(false);
                lane.Down = System.Threading.Channels.Channel.CreateUnbounded<StageInput>(new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
                relay = RelayAsync(lane, call);
                lane.Relay = relay;
                down = PumpDownAsync(lane, call);
            }
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
                lane.Sessions.Clear();
                _lanes.Remove(lane);
                for (var node = _pending.First; node != null;)
                {
                    var following = node.Next;
                    if (node.Value.Lane == lane)
                        _pending.Remove(node);
                    node = following;
                }
            }
            LogLaneClosed(lane.Id, freed);
            lane.Down?.Writer.TryComplete();
            if (down is not null)
                await down.ConfigureAwait(false);
            if (relay is not null)
                await Task.WhenAny(relay, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
            await cts.CancelAsync().ConfigureAwait(false);
            call?.Dispose();
            lane.Up.Writer.TryComplete();
            await up.ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        _worker.Join();
        foreach (var channel in _channels.Values)
            channel.Dispose();
    }

    /// <summary>Queues a lane's message: opens, work and closes, in that order.</summary>
    private void Accept(Lane lane, StageInput message)
    {
        var d = _stage.Config.EmbeddingLength;
        float[]? hidden = null;
        var rows = 0;
        foreach (var w in message.Work)
            rows += w.Tokens.Count;
        if (!_stage.IsFirst && rows > 0)
        {
            hidden = new float[rows * d];
            try
            {
                ActivationCodec.Decode(message.Format, message.Activations.Span, d, hidden);
            }
            catch (FormatException e)
            {
                throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, e.Message));
            }
        }

        lock (_gate)
        {
            if (lane.Closed)
                return;
            foreach (var open in message.Opens)
                _pending.AddLast(new Pending(PendingKind.Open, lane, open.Session) { Open = open });
            var row = 0;
            foreach (var w in message.Work)
            {
                var tokens = w.Tokens.ToArray();
                _pending.AddLast(new Pending(PendingKind.Work, lane, w.Session)
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
                        _pending.Remove(node);
                    node = following;
                }
                _pending.AddLast(new Pending(PendingKind.Close, lane, id));
            }
            Monitor.Pulse(_gate);
        }
    }

    private async Task PumpUpAsync(Lane lane, IServerStreamWriter<StageOutput> output)
    {
        try
        {
            var reader = lane.Up.Reader;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                var merged = new StageOutput();
                while (reader.TryRead(out var message))
                {
                    merged.Tokens.Add(message.Tokens);
                    merged.Failures.Add(message.Failures);
                }
                await output.WriteAsync(merged).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or OperationCanceledException or RpcException)
        {
            // the upstream is gone; the lane ends through its reader
        }
    }

    private static async Task PumpDownAsync(Lane lane, AsyncDuplexStreamingCall<StageInput, StageOutput> call)
    {
        try
        {
            await foreach (var message in lane.Down!.Reader.ReadAllAsync().ConfigureAwait(false))
                await call.RequestStream.WriteAsync(message).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or OperationCanceledException or RpcException)
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
    }

    private async Task RelayAsync(Lane lane, AsyncDuplexStreamingCall<StageInput, StageOutput> call)
    {
        try
        {
            await foreach (var message in call.ResponseStream.ReadAllAsync().ConfigureAwait(false))
            {
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
                lane.Up.Writer.TryWrite(message);
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
