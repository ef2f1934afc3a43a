using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tessera.Engine.Model;
using Tessera.Generation;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// Drives sessions through a chain of stages (see stage.proto): keeps each session's state (prompt, tokens so
/// far, sampling, step), sends prompts and then each sampled token to the first stage over one lane, and
/// streams the tokens the last stage samples. Many sessions share the lane, so every stage batches whatever is
/// ready. When the lane breaks (a stage died) and an <see cref="IPipelineRecovery"/> is configured, the sessions
/// pause, the recovery supplies a replacement pipeline, and every live session is replayed on it (its prompt and
/// tokens so far, from position 0) and continues at the same step: the client sees a pause, not a failure, and
/// the same tokens. A lane that stops making progress without breaking (a stage's process stopped, its port
/// black-holed) is treated the same way once a <see cref="StallDetector"/> says it stalled: the driver asks each stage
/// for its status to find the silent one, abandons the lane without waiting for the transport, and recovers. Thread-safe.
/// </summary>
public sealed partial class PipelineDriver : IAsyncDisposable
{
    private readonly PipelineDriverOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, DriverSession> _sessions = [];
    private Lane _lane;
    private Task _recovery = Task.CompletedTask;
    private bool _recovering;
    private bool _disposing;
    private long _nextSession;
    private int _laneGeneration;
    private string? _broken;
    private int _recoveries;
    private int _failedRecoveries;
    private int _moves;
    private int _sessionsResumed;
    private TimeSpan _lastPause;
    private TimeSpan _maxPause;
    private readonly StallDetector? _stall;
    private readonly ITimer? _stallTimer;
    private int _stalls;

    private PipelineDriver(IReadOnlyList<string> endpoints, GrpcChannel[] channels, IReadOnlyList<StageStatus> stages, PipelineDriverOptions options)
    {
        _options = options;
        _logger = options.Logger ?? NullLogger.Instance;
        ContextLength = stages.Min(s => s.ContextLength);
        VocabSize = stages[^1].VocabSize;
        _lane = new Lane(++_laneGeneration, endpoints, channels, stages, _stopping.Token);
        StartLane(_lane);
        if (options.Stall is { } stall)
        {
            _stall = new StallDetector(stall, options.Time);
            _stallTimer = options.Time.CreateTimer(_ => CheckStall(), null, options.StallCheckInterval, options.StallCheckInterval);
        }
    }

    /// <summary>The stages in use now (they change when a failed pipeline is replaced).</summary>
    public IReadOnlyList<string> Endpoints
    {
        get
        {
            lock (_gate)
                return _lane.Endpoints;
        }
    }

    /// <summary>Each stage's status when the driver connected to the pipeline in use, in pipeline order.</summary>
    public IReadOnlyList<StageStatus> Stages
    {
        get
        {
            lock (_gate)
                return _lane.Stages;
        }
    }

    /// <summary>Positions a session can reach: the smallest context of the stages.</summary>
    public int ContextLength { get; }

    public int VocabSize { get; }

    /// <summary>Sessions generating now (paused ones included).</summary>
    public int ActiveSessions
    {
        get
        {
            lock (_gate)
                return _sessions.Count;
        }
    }

    /// <summary>Why the driver stopped working, or null while it works (a recovery in progress is not a failure).</summary>
    public string? Failure
    {
        get
        {
            lock (_gate)
                return _broken;
        }
    }

    /// <summary>Recoveries and planned moves so far and the pauses they caused.</summary>
    public PipelineRecoveryStatistics RecoveryStatistics
    {
        get
        {
            lock (_gate)
                return new PipelineRecoveryStatistics(_recoveries, _failedRecoveries, _sessionsResumed, _lastPause, _maxPause) { Moves = _moves, Stalls = _stalls };
        }
    }

    /// <summary>
    /// Connects to the stages at <paramref name="endpoints"/> (HOST:PORT, in pipeline order), checks that
    /// their layer ranges cover the model from first to last block, and opens a lane through them.
    /// </summary>
    /// <exception cref="PipelineException">A stage cannot be reached or the ranges do not form a pipeline.</exception>
    public static Task<PipelineDriver> ConnectAsync(IReadOnlyList<string> endpoints, StageTls? tls = null, CancellationToken cancellation = default) =>
        ConnectAsync(endpoints, new PipelineDriverOptions { Tls = tls }, cancellation);

    /// <inheritdoc cref="ConnectAsync(IReadOnlyList{string}, StageTls?, CancellationToken)"/>
    public static async Task<PipelineDriver> ConnectAsync(IReadOnlyList<string> endpoints, PipelineDriverOptions options, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxRecoveriesPerSession);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxReplaceAttempts, 1);
        var (channels, stages) = await OpenAsync(endpoints, options.Tls, cancellation).ConfigureAwait(false);
        return new PipelineDriver(endpoints, channels, stages, options);
    }

    private static async Task<(GrpcChannel[] Channels, StageStatus[] Stages)> OpenAsync(IReadOnlyList<string> endpoints, StageTls? tls, CancellationToken cancellation)
    {
        if (endpoints.Count == 0)
            throw new ArgumentException("A pipeline needs at least one stage endpoint.", nameof(endpoints));
        var channels = endpoints.Select(e => StageChannels.Create(e, tls)).ToArray();
        try
        {
            var stages = new StageStatus[endpoints.Count];
            for (var i = 0; i < endpoints.Count; i++)
            {
                try
                {
                    stages[i] = await new Stage.StageClient(channels[i]).StatusAsync(new StatusRequest(),
                        deadline: DateTime.UtcNow.AddSeconds(15), cancellationToken: cancellation).ResponseAsync.ConfigureAwait(false);
                }
                catch (RpcException e)
                {
                    throw new PipelineException($"Stage {i} at {endpoints[i]} cannot be reached: {e.Status.Detail}", e) { Endpoint = endpoints[i] };
                }
            }
            CheckChain(endpoints, stages);
            return (channels, stages);
        }
        catch
        {
            foreach (var channel in channels)
                channel.Dispose();
            throw;
        }
    }

    /// <summary>Throws when the stages' ranges are not consecutive from block 0 to the last, or they serve different models.</summary>
    internal static void CheckChain(IReadOnlyList<string> endpoints, IReadOnlyList<StageStatus> stages)
    {
        var expected = 0;
        for (var i = 0; i < stages.Count; i++)
        {
            var s = stages[i];
            if (s.FirstLayer != expected)
                throw new PipelineException($"Stage {i} at {endpoints[i]} runs layers {s.FirstLayer}-{s.LastLayer}, but the pipeline needs one starting at layer {expected}.");
            if (s.BlockCount != stages[0].BlockCount || s.EmbeddingLength != stages[0].EmbeddingLength || s.VocabSize != stages[0].VocabSize)
                throw new PipelineException($"Stage {i} at {endpoints[i]} serves a different model ({s.Model}: {s.BlockCount} blocks, width {s.EmbeddingLength}) than stage 0 ({stages[0].Model}).");
            expected = s.LastLayer;
        }
        if (expected != stages[0].BlockCount)
            throw new PipelineException($"The stages end at layer {expected} of {stages[0].BlockCount}: the last stage must run up to the model's last block.");
    }

    /// <summary>
    /// Streams the tokens of one session. Cancelling (or not reading to the end) frees the session on every stage.
    /// A stage failure pauses the stream while the pipeline is replaced (when a recovery is configured).
    /// </summary>
    /// <exception cref="ContextFullException">The prompt plus one token does not fit the context.</exception>
    /// <exception cref="PipelineException">A stage failed or refused the session; <see cref="PipelineException.IsRetryable"/> when recovery gave up.</exception>
    public async IAsyncEnumerable<PipelineToken> GenerateAsync(PipelineRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var id = (ulong)Interlocked.Increment(ref _nextSession);
        var session = new DriverSession(id, request, LimitsOf(request));
        lock (_gate)
        {
            if (_broken is { } broken)
                throw new PipelineException(broken) { IsRetryable = true };
            _sessions[id] = session;
            // While a recovery runs the session waits: the replay on the new pipeline opens it.
            if (!_recovering)
                Open(_lane, session, new WorkEntry { Session = id, Start = 0, SampleStep = 0, Tokens = { request.Prompt } });
        }

        try
        {
            await foreach (var token in session.Output.Reader.ReadAllAsync(cancellation).ConfigureAwait(false))
                yield return token;
        }
        finally
        {
            lock (_gate)
            {
                if (session.Finish() && _sessions.Remove(id))
                {
                    Abandon(session);
                    if (!_recovering)
                        _lane.Outbound.Writer.TryWrite(Outbound.Close(id));
                }
            }
        }
    }

    /// <summary>
    /// A planned switch to the pipeline at <paramref name="endpoints"/> (a drain, a better plan): connects to the new
    /// stages while the old ones still serve, then pauses every live session, opens a lane through the new stages,
    /// replays each session's prompt and tokens so far on it (as a recovery does), and closes the old lane. Tokens the
    /// old lane still sends are dropped, so a session continues at the step it had reached with the same text.
    /// Returns false, having changed nothing, when the driver is recovering from a failure or stopping; the caller
    /// leaves the move to that recovery.
    /// </summary>
    /// <exception cref="PipelineException">The new stages cannot be reached or do not form a pipeline of the same model.</exception>
    public async Task<bool> MoveToAsync(IReadOnlyList<string> endpoints, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var (channels, stages) = await OpenAsync(endpoints, _options.Tls, cancellation).ConfigureAwait(false);
        Lane old;
        lock (_gate)
        {
            if (_recovering || _broken is not null || _disposing || _stopping.IsCancellationRequested)
            {
                foreach (var channel in channels)
                    channel.Dispose();
                return false;
            }
            if (stages[0].BlockCount != _lane.Stages[0].BlockCount || stages[^1].VocabSize != VocabSize)
            {
                foreach (var channel in channels)
                    channel.Dispose();
                throw new PipelineException($"The pipeline {string.Join(" -> ", endpoints)} serves another model than the one in use.");
            }
            old = _lane;
            // The old lane is retired first: whatever it still reads or breaks with is ignored from here on.
            old.Broken = true;
            _lane = new Lane(++_laneGeneration, endpoints, channels, stages, _stopping.Token);
            StartLane(_lane);
            ForgetInFlight();
            _moves++;
            var now = _options.Time.GetTimestamp();
            var context = stages.Min(s => s.ContextLength);
            foreach (var session in _sessions.Values.ToList())
            {
                if (session.MaxPositions > context)
                {
                    _sessions.Remove(session.Id);
                    Fail(session, $"The pipeline moved to stages that hold {context} positions, fewer than the session's {session.MaxPositions}; retry the request.", retryable: true);
                    continue;
                }
                if (session.PausedSince == 0)
                    session.PausedSince = now;
                Open(_lane, session, SessionReplay.Entry(session.Id, session.Request.Prompt, session.Generated));
            }
            LogPipelineMoved(string.Join(",", old.Endpoints), string.Join(",", endpoints), _sessions.Count);
        }
        await CloseLaneAsync(old).ConfigureAwait(false);
        return true;
    }

    /// <summary>Each stage's status now, in pipeline order.</summary>
    public async Task<StageStatus[]> StatusAsync(CancellationToken cancellation = default)
    {
        GrpcChannel[] channels;
        lock (_gate)
            channels = _lane.Channels;
        var result = new StageStatus[channels.Length];
        for (var i = 0; i < channels.Length; i++)
            result[i] = await new Stage.StageClient(channels[i]).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellation).ResponseAsync.ConfigureAwait(false);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        Lane lane;
        lock (_gate)
        {
            _disposing = true;
            lane = _lane;
        }
        lane.Outbound.Writer.TryComplete();
        try
        {
            await lane.Writer.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            await lane.Reader.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        if (_stallTimer is not null)
            await _stallTimer.DisposeAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _recovery.ConfigureAwait(false);
        await CloseLaneAsync(lane).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private void StartLane(Lane lane)
    {
        lane.Call = new Stage.StageClient(lane.Channels[0]).Run(cancellationToken: lane.Stopping.Token);
        var route = new StageInput();
        route.Route.AddRange(lane.Endpoints.Skip(1));
        _options.Tickets?.Stamp(route, lane.Endpoints);
        lane.Outbound.Writer.TryWrite(new Outbound(route));
        lane.Writer = WriteAsync(lane);
        lane.Reader = ReadAsync(lane);
    }

    private void Open(Lane lane, DriverSession session, WorkEntry work)
    {
        var request = session.Request;
        var open = new SessionOpen
        {
            Session = session.Id,
            MaxPositions = session.MaxPositions,
            Sampling = SamplingWire.ToWire(request.Sampling, request.Grammar),
            TopLogprobs = request.TopLogProbs,
            FeedBack = _options.FeedBackAtFirstStage,
            MaxTokens = request.MaxTokens,
            PromptLength = request.Prompt.Length,
        };
        if (request.Pooling is { } pooling)
        {
            open.Pooling = (int)pooling;
            open.FeedBack = false;
        }
        if (request.EndTokens is { } end)
            open.EndTokens.Add(end);
        Abandon(session);
        session.InFlight = work.Tokens.Count;
        _stall?.Sent(session.InFlight);
        lane.Outbound.Writer.TryWrite(new Outbound(open, work));
    }

    private static async Task CloseLaneAsync(Lane lane)
    {
        if (!lane.MarkClosed())
            return;
        lane.Outbound.Writer.TryComplete();
        await lane.Stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(lane.Writer, lane.Reader).ConfigureAwait(false);
        lane.Call.Dispose();
        foreach (var channel in lane.Channels)
            channel.Dispose();
        lane.Stopping.Dispose();
    }

    private async Task WriteAsync(Lane lane)
    {
        var reader = lane.Outbound.Reader;
        try
        {
            while (await reader.WaitToReadAsync(lane.Stopping.Token).ConfigureAwait(false))
            {
                // Everything queued goes in one message: opens first, then work, then closes.
                var message = new StageInput();
                while (reader.TryRead(out var item))
                {
                    if (item.Message is { } whole)
                    {
                        message.Route.Add(whole.Route);
                        message.Ticket = whole.Ticket;
                        message.TicketMac = whole.TicketMac;
                        continue;
                    }
                    if (item.Open is not null)
                        message.Opens.Add(item.Open);
                    if (item.Work is not null)
                        message.Work.Add(item.Work);
                    if (item.CloseId is { } close)
                        message.Closes.Add(close);
                }
                await lane.Call.RequestStream.WriteAsync(message).ConfigureAwait(false);
            }
            await lane.Call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or IOException or OperationCanceledException or InvalidOperationException)
        {
            // A write fails as well when the first stage answered with an error: the reader sees that answer (which
            // hop broke), so it goes first and this break only counts when the reader has nothing to say.
            await Task.WhenAny(lane.Reader, Task.Delay(TimeSpan.FromSeconds(1))).ConfigureAwait(false);
            Break(lane, $"the first stage ({lane.Endpoints[0]}) cannot be reached: {e.Message}", lane.Endpoints[0]);
        }
    }

    private async Task ReadAsync(Lane lane)
    {
        try
        {
            await foreach (var message in lane.Call.ResponseStream.ReadAllAsync(lane.Stopping.Token).ConfigureAwait(false))
            {
                lock (_gate)
                {
                    if (lane.Broken || lane != _lane)
                        continue;
                    foreach (var t in message.Tokens)
                        OnToken(lane, t);
                    foreach (var f in message.Failures)
                    {
                        if (_sessions.Remove(f.Session, out var session))
                        {
                            Abandon(session);
                            lane.Outbound.Writer.TryWrite(Outbound.Close(f.Session));
                            Fail(session, f.Message, retryable: false);
                        }
                    }
                }
            }
            Break(lane, "the pipeline closed the lane");
        }
        catch (RpcException e)
        {
            var stopped = e.StatusCode == StatusCode.Cancelled && (_stopping.IsCancellationRequested || lane.Stopping.IsCancellationRequested);
            Break(lane, stopped && _stopping.IsCancellationRequested ? "the driver was stopped" : $"the pipeline failed: {e.Status.Detail}",
                stopped ? null : StageFailure.Unreachable(e, lane.Endpoints[0]));
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
        {
            Break(lane, $"the pipeline failed: {e.Message}", lane.Stopping.IsCancellationRequested ? null : lane.Endpoints[0]);
        }
    }

    /// <summary>A token from the lane in use; called under the gate.</summary>
    private void OnToken(Lane lane, SampledToken t)
    {
        if (!_sessions.TryGetValue(t.Session, out var session) || t.Step != session.Generated.Count)
            return;
        if (session.PausedSince != 0)
        {
            var pause = _options.Time.GetElapsedTime(session.PausedSince);
            session.PausedSince = 0;
            _sessionsResumed++;
            _lastPause = pause;
            if (pause > _maxPause)
                _maxPause = pause;
            PipelineMetrics.Paused(_options.Name, pause);
            LogSessionResumed(t.Session, (long)t.Step, pause.TotalMilliseconds);
        }
        if (session.Request.Pooling is not null)
        {
            OnEmbedding(lane, session, t);
            return;
        }
        var request = session.Request;
        session.Generated.Add(t.Token);
        var finish = session.Limits.After(t.Token, session.Generated.Count, request.Prompt.Length + (int)t.Step);
        // The token answers every position of the session in flight; unless it ends the session, the next position is
        // in flight at once (queued by the first stage with feed-back, sent below without).
        _stall?.Completed(session.InFlight);
        session.InFlight = finish is null ? 1 : 0;
        if (finish is null)
            _stall?.Sent(1);

        (int, float)[]? top = null;
        if (t.TopIds.Count > 0)
        {
            top = new (int, float)[t.TopIds.Count];
            for (var i = 0; i < top.Length; i++)
                top[i] = (t.TopIds[i], t.TopLogProbs[i]);
        }

        if (finish is null)
        {
            // With feed-back the first stage has already queued this token as the next position.
            if (!_options.FeedBackAtFirstStage)
            {
                var work = new WorkEntry { Session = t.Session, Start = request.Prompt.Length + (int)t.Step, SampleStep = t.Step + 1 };
                work.Tokens.Add(t.Token);
                lane.Outbound.Writer.TryWrite(new Outbound(null, work));
            }
            session.Output.Writer.TryWrite(new PipelineToken(t.Token, (int)t.Step, t.LogProb, top, null));
            return;
        }

        session.Output.Writer.TryWrite(new PipelineToken(t.Token, (int)t.Step, t.LogProb, top, finish));
        if (session.Finish())
        {
            _sessions.Remove(t.Session);
            lane.Outbound.Writer.TryWrite(Outbound.Close(t.Session));
            session.Output.Writer.TryComplete();
        }
    }

    /// <summary>
    /// The lane broke: fail its sessions, or pause them and start a recovery. <paramref name="unreachable"/>: the stage
    /// that could not be reached, when known. <paramref name="silentSince"/>: for a stall, when the lane went silent
    /// (the sessions' pause began then, not when the stall was declared). <paramref name="stalledStage"/>: the stall names
    /// a stage that does not answer (false: a silent link into <paramref name="unreachable"/>, whose stage answers).
    /// </summary>
    private void Break(Lane lane, string reason, string? unreachable = null, long silentSince = 0, bool stalledStage = true)
    {
        lock (_gate)
        {
            if (lane.Broken)
                return;
            lane.Broken = true;
            lane.Unreachable = unreachable;
            lane.Stalled = silentSince != 0 && stalledStage;
            if (lane == _lane)
                ForgetInFlight();
            if (lane != _lane)
                return;
            if (_options.Recovery is null || _disposing || _stopping.IsCancellationRequested)
            {
                _broken ??= reason;
                FailAll(reason, retryable: false);
                return;
            }
            _recovering = true;
            var now = silentSince != 0 ? silentSince : _options.Time.GetTimestamp();
            foreach (var session in _sessions.Values)
            {
                if (session.PausedSince == 0)
                    session.PausedSince = now;
            }
            LogPipelineBroken(string.Join(",", lane.Endpoints), reason, _sessions.Count);
            _recovery = Task.Run(() => RecoverAsync(lane, reason));
        }
    }

    private async Task RecoverAsync(Lane old, string reason)
    {
        await CloseLaneAsync(old).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(_options.RecoveryTimeout);
        var last = reason;
        var unreachable = old.Unreachable;
        for (var attempt = 1; attempt <= _options.MaxReplaceAttempts && !timeout.IsCancellationRequested; attempt++)
        {
            try
            {
                var failure = new PipelineFailure(old.Endpoints, reason, attempt) { UnreachableEndpoint = unreachable, Stalled = old.Stalled };
                var endpoints = await _options.Recovery!.ReplaceAsync(failure, timeout.Token).ConfigureAwait(false);
                var (channels, stages) = await OpenAsync(endpoints, _options.Tls, timeout.Token).ConfigureAwait(false);
                lock (_gate)
                {
                    if (_disposing || _stopping.IsCancellationRequested)
                    {
                        foreach (var channel in channels)
                            channel.Dispose();
                        _recovering = false;
                        FailAll("the driver was stopped", retryable: true);
                        return;
                    }
                    _lane = new Lane(++_laneGeneration, endpoints, channels, stages, _stopping.Token);
                    StartLane(_lane);
                    ForgetInFlight();
                    _recovering = false;
                    _recoveries++;
                    PipelineMetrics.Recovered(_options.Name);
                    var context = stages.Min(s => s.ContextLength);
                    foreach (var session in _sessions.Values.ToList())
                    {
                        if (SessionReplay.Refusal(session.Recoveries, _options.MaxRecoveriesPerSession, session.MaxPositions, context, reason) is { } refusal)
                        {
                            _sessions.Remove(session.Id);
                            Fail(session, refusal, retryable: true);
                            continue;
                        }
                        session.Recoveries++;
                        Open(_lane, session, SessionReplay.Entry(session.Id, session.Request.Prompt, session.Generated));
                    }
                    LogPipelineReplaced(string.Join(",", endpoints), _sessions.Count, attempt);
                }
                return;
            }
            catch (Exception e)
            {
                // Whatever the recovery or the new stages threw is one failed try; the bound decides what follows. A
                // stage of the replacement that could not be reached is named in the next try, so it is planned around.
                last = e.Message;
                if (e is PipelineException { Endpoint: { } endpoint })
                    unreachable = endpoint;
                LogReplaceFailed(attempt, e.Message);
            }
        }

        lock (_gate)
        {
            _recovering = false;
            _failedRecoveries++;
            _broken = $"The pipeline failed ({reason}) and no replacement could be started ({last}); retry the request.";
            FailAll(_broken, retryable: true);
        }
    }

    private void FailAll(string reason, bool retryable)
    {
        foreach (var session in _sessions.Values)
            Fail(session, reason, retryable);
        _sessions.Clear();
        _stall?.Reset();
    }

    /// <summary>Nothing sent on the lane in use will be answered (it broke or was replaced): the replay counts its positions afresh. Called under the gate.</summary>
    private void ForgetInFlight()
    {
        _stall?.Reset();
        foreach (var session in _sessions.Values)
            session.InFlight = 0;
    }

    /// <summary>The session's positions in flight will not be answered (it ended or was removed); called under the gate.</summary>
    private void Abandon(DriverSession session)
    {
        _stall?.Abandoned(session.InFlight);
        session.InFlight = 0;
    }

    /// <summary>
    /// The stall timer's tick: when the lane in use has been silent past its deadline, finds the silent stage and
    /// breaks the lane (once per lane). A lane that is already broken or being replaced is left to that.
    /// </summary>
    private void CheckStall()
    {
        Lane lane;
        StallCheck check;
        lock (_gate)
        {
            lane = _lane;
            if (_stall is null || _recovering || _disposing || _broken is not null || lane.Broken || lane.StallSuspected)
                return;
            check = _stall.Check();
            if (!check.Stalled)
                return;
            lane.StallSuspected = true;
        }
        _ = Task.Run(() => OnStallAsync(lane, check));
    }

    private async Task OnStallAsync(Lane lane, StallCheck check)
    {
        var (silent, statuses) = await FindSilentStageAsync(lane).ConfigureAwait(false);
        if (silent is null)
        {
            // Every stage answers the driver: the silence is between stages (a cut link) or a stage wedged in its own work.
            // The stages' own waits name the link (SilentLink); the lane breaks naming the stage after it, which the
            // recovery finds alive and so treats as a cut link. When no stage waits, the lane is left to the transport,
            // whose failure names the stage that cannot be reached; the stall check stays off for this lane.
            if (SilentLink.Find(statuses, check.Silence) is not { } k)
            {
                // Nothing to blame yet (a slow step, or a link whose stage has not noticed): look again after another deadline.
                LogStallUnattributed(string.Join(",", lane.Endpoints), check.Silence.TotalMilliseconds);
                RearmAfter(lane, check.Deadline ?? TimeSpan.FromSeconds(1));
                return;
            }
            // A step that is only slow (a stage's machine busy for a moment) looks the same for a while, and blaming a link
            // moves stages: unless every stage after the waiting one is idle (the work is nowhere but lost on the link),
            // look again after half the deadline more, and blame it only if that stage still waits on the same link.
            if (!SilentLink.WorkIsNowhereAfter(statuses, k))
            {
                var confirm = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(250).Ticks, (check.Deadline ?? TimeSpan.Zero).Ticks / 2));
                try
                {
                    await Task.Delay(confirm, _options.Time, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                var again = await FindSilentStageAsync(lane).ConfigureAwait(false);
                lock (_gate)
                    check = _stall?.Check() ?? check;
                if (again.Silent is not null || SilentLink.Find(again.Statuses, check.Silence) != k)
                {
                    lock (_gate)
                        lane.StallSuspected = false; // it moved again (or something else broke): judge afresh
                    return;
                }
                statuses = again.Statuses;
            }
            if (!StillStalled(lane))
                return;
            var linkReason = $"the link from stage {k} ({lane.Endpoints[k]}) to stage {k + 1} ({lane.Endpoints[k + 1]}) carries nothing: no token came back for " +
                $"{check.Silence.TotalMilliseconds:F0} ms, stage {k} has waited {statuses[k].DownstreamWaitingMs:F0} ms for stage {k + 1}, and every stage answers the driver";
            LogPipelineStalled(string.Join(",", lane.Endpoints), linkReason);
            Break(lane, linkReason, lane.Endpoints[k + 1], check.SilentSince, stalledStage: false);
            return;
        }
        if (!StillStalled(lane))
            return;
        var silence = $"no token came back for {check.Silence.TotalMilliseconds:F0} ms (deadline {check.Deadline!.Value.TotalMilliseconds:F0} ms from the measured step time)";
        var reason = $"stage {silent.Value.Index} ({silent.Value.Endpoint}) stalled: {silence}, and it did not answer a status request within {_options.StallProbeTimeout.TotalMilliseconds:F0} ms";
        LogPipelineStalled(string.Join(",", lane.Endpoints), reason);
        Break(lane, reason, silent.Value.Endpoint, check.SilentSince);
    }

    /// <summary>Lets the stall check judge <paramref name="lane"/> again after <paramref name="delay"/> (at least a second).</summary>
    private void RearmAfter(Lane lane, TimeSpan delay)
    {
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(delay < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : delay, _options.Time, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            lock (_gate)
                lane.StallSuspected = false;
        });
    }

    /// <summary>
    /// Whether the lane is still the one in use and still silent after the stages were asked (tokens that came back
    /// meanwhile make it a slow step, not a stall); counts the stall when it is.
    /// </summary>
    private bool StillStalled(Lane lane)
    {
        lock (_gate)
        {
            if (lane != _lane || lane.Broken || _stall is null || !_stall.Check().Stalled)
            {
                lane.StallSuspected = false;
                return false;
            }
            _stalls++;
            return true;
        }
    }

    /// <summary>
    /// Asks every stage of the lane for its status at once: the first, in pipeline order, that does not answer in time
    /// (or null), and every answer (an empty status for a stage that gave none).
    /// </summary>
    private async Task<((int Index, string Endpoint)? Silent, StageStatus[] Statuses)> FindSilentStageAsync(Lane lane)
    {
        var answers = lane.Channels.Select(async channel =>
        {
            try
            {
                return await new Stage.StageClient(channel).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.Add(_options.StallProbeTimeout),
                    cancellationToken: _stopping.Token).ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException)
            {
                return null;
            }
            catch (ObjectDisposedException)
            {
                // The lane was closed meanwhile (it broke on its own): nothing to name.
                return new StageStatus();
            }
        }).ToArray();
        var statuses = new StageStatus[answers.Length];
        (int, string)? silent = null;
        for (var i = 0; i < answers.Length; i++)
        {
            var status = await answers[i].ConfigureAwait(false);
            silent ??= status is null ? (i, lane.Endpoints[i]) : null;
            statuses[i] = status ?? new StageStatus();
        }
        return (silent, statuses);
    }

    private static void Fail(DriverSession session, string reason, bool retryable)
    {
        session.Finish();
        session.Output.Writer.TryComplete(new PipelineException(reason) { IsRetryable = retryable });
    }

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "The pipeline {Endpoints} broke ({Reason}); {Sessions} sessions paused while it is replaced")]
    private partial void LogPipelineBroken(string endpoints, string reason, int sessions);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Continuing on pipeline {Endpoints} (try {Attempt}); {Sessions} sessions replayed")]
    private partial void LogPipelineReplaced(string endpoints, int sessions, int attempt);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Replacement pipeline, try {Attempt}, failed: {Reason}")]
    private partial void LogReplaceFailed(int attempt, string reason);

    [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "Session {Session} resumed at step {Step} after a pause of {PauseMs:F0} ms")]
    private partial void LogSessionResumed(ulong session, long step, double pauseMs);

    [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "The pipeline {Endpoints} made no progress for {Milliseconds:F0} ms, yet every stage answers and none waits on the next: looking again shortly")]
    private partial void LogStallUnattributed(string endpoints, double milliseconds);

    [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "The pipeline {Endpoints} stopped making progress: {Reason}")]
    private partial void LogPipelineStalled(string endpoints, string reason);

    [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "Moving from pipeline {From} to {To} as planned; {Sessions} sessions replayed")]
    private partial void LogPipelineMoved(string from, string to, int sessions);

    /// <summary>One lane through one pipeline; a replaced pipeline gets a new lane.</summary>
    private sealed class Lane(int generation, IReadOnlyList<string> endpoints, GrpcChannel[] channels, IReadOnlyList<StageStatus> stages, CancellationToken stopping)
    {
        public int Generation { get; } = generation;
        public IReadOnlyList<string> Endpoints { get; } = endpoints;
        public GrpcChannel[] Channels { get; } = channels;
        public IReadOnlyList<StageStatus> Stages { get; } = stages;
        public CancellationTokenSource Stopping { get; } = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        public Channel<Outbound> Outbound { get; } = Channel.CreateUnbounded<Outbound>(new UnboundedChannelOptions { SingleReader = true });
        public AsyncDuplexStreamingCall<StageInput, StageOutput> Call { get; set; } = null!;
        public Task Writer { get; set; } = Task.CompletedTask;
        public Task Reader { get; set; } = Task.CompletedTask;

        private int _closed;

        /// <summary>Set under the driver's gate when the lane broke or was replaced.</summary>
        public bool Broken { get; set; }

        /// <summary>When the lane broke: the stage that could not be reached from the one before it (or from the driver), if known.</summary>
        public string? Unreachable { get; set; }

        /// <summary>Set under the driver's gate when the lane broke because it stalled, not because its connection did.</summary>
        public bool Stalled { get; set; }

        /// <summary>Set under the driver's gate while the stages are asked which one is silent, so a stall is handled once.</summary>
        public bool StallSuspected { get; set; }

        /// <summary>True for the first caller only: that one releases the lane.</summary>
        public bool MarkClosed() => Interlocked.Exchange(ref _closed, 1) == 0;
    }

    private sealed class DriverSession(ulong id, PipelineRequest request, GenerationLimits limits)
    {
        private int _finished;

        public ulong Id { get; } = id;
        public PipelineRequest Request { get; } = request;
        public GenerationLimits Limits { get; } = limits;
        public int MaxPositions => Limits.MaxPositions;

        /// <summary>Tokens sampled so far: with the prompt, what a replay needs.</summary>
        public List<int> Generated { get; } = [];

        /// <summary>Times this session was replayed on a replacement pipeline.</summary>
        public int Recoveries { get; set; }

        /// <summary>Positions sent on the lane in use and not yet answered by a token (what the stall detector counts for this session).</summary>
        public int InFlight { get; set; }

        /// <summary>Timestamp of the failure that paused the session; 0 while it runs.</summary>
        public long PausedSince { get; set; }

        public Channel<PipelineToken> Output { get; } = Channel.CreateUnbounded<PipelineToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });

        /// <summary>Marks the session finished; true for the first caller only.</summary>
        public bool Finish() => Interlocked.Exchange(ref _finished, 1) == 0;
    }

    private sealed record Outbound(SessionOpen? Open, WorkEntry? Work)
    {
        public Outbound(StageInput message)
            : this(null, null) => Message = message;

        public StageInput? Message { get; private init; }

        public ulong? CloseId { get; private init; }

        public static Outbound Close(ulong id) => new(null, null) { CloseId = id };
    }
}
