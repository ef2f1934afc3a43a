using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Grpc.Core;
using Grpc.Net.Client;
using Tessera.Engine.Model;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// Drives sessions through a chain of stages (see stage.proto): keeps each session's state (prompt, tokens so
/// far, sampling, step), sends prompts and then each sampled token to the first stage over one lane, and
/// streams the tokens the last stage samples. Many sessions share the lane, so every stage batches whatever is
/// ready. The tokens it keeps are what a replacement stage needs to rebuild a session's KV cache by replaying
/// its prefix. Thread-safe.
/// </summary>
public sealed class PipelineDriver : IAsyncDisposable
{
    private readonly GrpcChannel[] _channels;
    private readonly AsyncDuplexStreamingCall<StageInput, StageOutput> _call;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<ulong, DriverSession> _sessions = new();
    private readonly Channel<Outbound> _outbound = Channel.CreateUnbounded<Outbound>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private readonly Task _reader;
    private long _nextSession;
    private volatile string? _broken;

    private PipelineDriver(IReadOnlyList<string> endpoints, GrpcChannel[] channels, IReadOnlyList<StageStatus> stages)
    {
        Endpoints = endpoints;
        _channels = channels;
        Stages = stages;
        ContextLength = stages.Min(s => s.ContextLength);
        VocabSize = stages[^1].VocabSize;
        _call = new Stage.StageClient(channels[0]).Run(cancellationToken: _stopping.Token);
        var route = new StageInput();
        route.Route.AddRange(endpoints.Skip(1));
        _outbound.Writer.TryWrite(new Outbound(route));
        _writer = WriteAsync();
        _reader = ReadAsync();
    }

    public IReadOnlyList<string> Endpoints { get; }

    /// <summary>Each stage's status when the driver connected, in pipeline order.</summary>
    public IReadOnlyList<StageStatus> Stages { get; }

    /// <summary>Positions a session can reach: the smallest context of the stages.</summary>
    public int ContextLength { get; }

    public int VocabSize { get; }

    /// <summary>Sessions generating now.</summary>
    public int ActiveSessions => _sessions.Count;

    /// <summary>Why the lane broke, or null while it works.</summary>
    public string? Failure => _broken;

    /// <summary>
    /// Connects to the stages at <paramref name="endpoints"/> (HOST:PORT, in pipeline order), checks that
    /// their layer ranges cover the model from first to last block, and opens a lane through them.
    /// </summary>
    /// <exception cref="PipelineException">A stage cannot be reached or the ranges do not form a pipeline.</exception>
    public static async Task<PipelineDriver> ConnectAsync(IReadOnlyList<string> endpoints, StageTls? tls = null, CancellationToken cancellation = default)
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
                    throw new PipelineException($"Stage {i} at {endpoints[i]} cannot be reached: {e.Status.Detail}", e);
                }
            }
            CheckChain(endpoints, stages);
            return new PipelineDriver(endpoints, channels, stages);
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

    /// <summary>Streams the tokens of one session. Cancelling (or not reading to the end) frees the session on every stage.</summary>
    /// <exception cref="ContextFullException">The prompt plus one token does not fit the context.</exception>
    /// <exception cref="PipelineException">A stage failed or refused the session.</exception>
    public async IAsyncEnumerable<PipelineToken> GenerateAsync(PipelineRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Prompt.Length == 0)
            throw new ArgumentException("The prompt has no tokens.", nameof(request));
        ArgumentOutOfRangeException.ThrowIfLessThan(request.MaxTokens, 1);
        request.Sampling.Validate();
        if (request.Prompt.Length + 1 > ContextLength)
            throw new ContextFullException(request.Prompt.Length + 1, ContextLength);
        if (_broken is { } broken)
            throw new PipelineException(broken);

        var id = (ulong)Interlocked.Increment(ref _nextSession);
        var session = new DriverSession(id, request, Math.Min(ContextLength, request.Prompt.Length + request.MaxTokens));
        _sessions[id] = session;
        var open = new SessionOpen
        {
            Session = id,
            MaxPositions = session.MaxPositions,
            Sampling = SamplingWire.ToWire(request.Sampling),
            TopLogprobs = Math.Clamp(request.TopLogProbs, 0, 20),
        };
        var work = new WorkEntry { Session = id, Start = 0, SampleStep = 0 };
        work.Tokens.Add(request.Prompt);
        _outbound.Writer.TryWrite(new Outbound(open, work));
        if (_broken is not null)
            Fail(session, _broken);

        try
        {
            await foreach (var token in session.Output.Reader.ReadAllAsync(cancellation).ConfigureAwait(false))
                yield return token;
        }
        finally
        {
            if (session.Finish())
            {
                _sessions.TryRemove(id, out _);
                _outbound.Writer.TryWrite(Outbound.Close(id));
            }
        }
    }

    /// <summary>Each stage's status now, in pipeline order.</summary>
    public async Task<StageStatus[]> StatusAsync(CancellationToken cancellation = default)
    {
        var result = new StageStatus[_channels.Length];
        for (var i = 0; i < _channels.Length; i++)
            result[i] = await new Stage.StageClient(_channels[i]).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellation).ResponseAsync.ConfigureAwait(false);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        _outbound.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_writer, _reader).ConfigureAwait(false);
        _call.Dispose();
        foreach (var channel in _channels)
            channel.Dispose();
        _stopping.Dispose();
    }

    private async Task WriteAsync()
    {
        var reader = _outbound.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stopping.Token).ConfigureAwait(false))
            {
                // Everything queued goes in one message: opens first, then work, then closes.
                var message = new StageInput();
                while (reader.TryRead(out var item))
                {
                    if (item.Message is { } whole)
                    {
                        message.Route.Add(whole.Route);
                        continue;
                    }
                    if (item.Open is not null)
                        message.Opens.Add(item.Open);
                    if (item.Work is not null)
                        message.Work.Add(item.Work);
                    if (item.CloseId is { } close)
                        message.Closes.Add(close);
                }
                await _call.RequestStream.WriteAsync(message).ConfigureAwait(false);
            }
            await _call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or IOException or OperationCanceledException or InvalidOperationException)
        {
            Break($"the first stage ({Endpoints[0]}) cannot be reached: {e.Message}");
        }
    }

    private async Task ReadAsync()
    {
        try
        {
            await foreach (var message in _call.ResponseStream.ReadAllAsync(_stopping.Token).ConfigureAwait(false))
            {
                foreach (var t in message.Tokens)
                    OnToken(t);
                foreach (var f in message.Failures)
                {
                    if (_sessions.TryRemove(f.Session, out var session))
                    {
                        _outbound.Writer.TryWrite(Outbound.Close(f.Session));
                        Fail(session, f.Message);
                    }
                }
            }
            Break("the pipeline closed the lane");
        }
        catch (RpcException e)
        {
            Break(e.StatusCode == StatusCode.Cancelled && _stopping.IsCancellationRequested
                ? "the driver was stopped"
                : $"the pipeline failed: {e.Status.Detail}");
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
        {
            Break($"the pipeline failed: {e.Message}");
        }
    }

    private void OnToken(SampledToken t)
    {
        if (!_sessions.TryGetValue(t.Session, out var session) || t.Step != session.Generated.Count)
            return;
        var request = session.Request;
        session.Generated.Add(t.Token);
        string? finish = null;
        if (request.IsEndOfGeneration?.Invoke(t.Token) == true)
            finish = "stop";
        else if (session.Generated.Count >= request.MaxTokens || request.Prompt.Length + t.Step + 1 > session.MaxPositions)
            finish = "length";

        (int, float)[]? top = null;
        if (t.TopIds.Count > 0)
        {
            top = new (int, float)[t.TopIds.Count];
            for (var i = 0; i < top.Length; i++)
                top[i] = (t.TopIds[i], t.TopLogProbs[i]);
        }

        if (finish is null)
        {
            var work = new WorkEntry { Session = t.Session, Start = request.Prompt.Length + (int)t.Step, SampleStep = t.Step + 1 };
            work.Tokens.Add(t.Token);
            _outbound.Writer.TryWrite(new Outbound(null, work));
            session.Output.Writer.TryWrite(new PipelineToken(t.Token, (int)t.Step, t.LogProb, top, null));
            return;
        }

        session.Output.Writer.TryWrite(new PipelineToken(t.Token, (int)t.Step, t.LogProb, top, finish));
        if (session.Finish())
        {
            _sessions.TryRemove(t.Session, out _);
            _outbound.Writer.TryWrite(Outbound.Close(t.Session));
            session.Output.Writer.TryComplete();
        }
    }

    private void Break(string reason)
    {
        _broken ??= reason;
        foreach (var session in _sessions.Values)
        {
            if (_sessions.TryRemove(session.Id, out _))
                Fail(session, reason);
        }
    }

    private static void Fail(DriverSession session, string reason)
    {
        session.Finish();
        session.Output.Writer.TryComplete(new PipelineException(reason));
    }

    private sealed class DriverSession(ulong id, PipelineRequest request, int maxPositions)
    {
        private int _finished;

        public ulong Id { get; } = id;
        public PipelineRequest Request { get; } = request;
        public int MaxPositions { get; } = maxPositions;

        /// <summary>Tokens sampled so far: with the prompt, what a replay needs.</summary>
        public List<int> Generated { get; } = [];

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
