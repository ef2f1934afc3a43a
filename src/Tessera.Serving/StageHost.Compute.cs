using System.Runtime.InteropServices;
using Google.Protobuf;
using Tessera.Engine.Model;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Generation.Constraints;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

public sealed partial class StageHost
{
    private readonly List<Slice> _slices = [];
    private readonly List<Lane> _touched = [];
    private readonly List<(Lane Lane, ulong Session)> _closeAfter = [];
    private readonly HashSet<(Lane, ulong)> _inBatch = [];
    private readonly HashSet<(Lane, ulong)> _blocked = [];
    // Caches of sessions that ended, freed by the compute thread between passes (a GPU's device memory must not wait for
    // the garbage collector, and must not be freed while a pass may still use it). Guarded by _gate.
    private readonly List<KvCache> _retired = [];
    private float[] _input = [];
    private float[] _output = [];
    private int[] _tokens = [];
    /// <summary>The most decoding sessions of one lane taken into one pass so far (tests of <see cref="MicroBatching"/>).</summary>
    internal int LargestDecodeGroup { get; private set; }

    private bool _lastPassDecoded; // the last forward pass had one position per session (read by Flush, on the compute thread)
    private readonly List<BatchSequence> _batch = [];

    /// <summary>Removes a session from its lane; its cache is freed by the compute thread between passes. Caller holds _gate.</summary>
    private void Retire(Lane lane, ulong id)
    {
        if (lane.Sessions.Remove(id, out var session))
            _retired.Add(session.Cache);
    }

    /// <summary>Frees the caches of ended sessions: on the compute thread, between passes, holding _gate.</summary>
    private void FreeRetired()
    {
        foreach (var cache in _retired)
            cache.Dispose();
        _retired.Clear();
    }

    private void Run()
    {
        while (true)
        {
            lock (_gate)
            {
                FreeRetired();
                if (_pending.Count == 0)
                    _stage.Backend.Idle(); // the next stage may be on this machine: do not spin on its cores
                while (_pending.Count == 0 && !_stopping)
                {
                    Monitor.Wait(_gate);
                    FreeRetired();
                }
                if (_stopping)
                    return;
                Collect();
                _working = _slices.Count > 0;
            }

            if (_slices.Count > 0)
            {
                try
                {
                    Compute();
                }
                catch (Exception e)
                {
                    // A fault that escaped the per-session checks ends the lanes in this batch, not the stage.
                    LogForwardFailed(e, _slices.Count);
                    foreach (var s in _slices)
                        s.Item.Lane.Fail($"the stage for layers {_stage.Range} failed: {e.Message}");
                }
            }

            lock (_gate)
            {
                foreach (var (lane, id) in _closeAfter)
                {
                    Retire(lane, id);
                    Touch(lane).Closes.Add(id);
                }
            }
            _closeAfter.Clear();
            Flush();
            _working = false;
        }
    }

    /// <summary>Takes ready work off the queue, in order, up to the token budget; applies opens and closes that need no compute. Under the lock.</summary>
    private void Collect()
    {
        _slices.Clear();
        _inBatch.Clear();
        _blocked.Clear();
        var budget = _options.MaxBatchTokens;
        foreach (var lane in _lanes)
            lane.DecodingInPass = 0;
        for (var node = _pending.First; node != null;)
        {
            var following = node.Next;
            var item = node.Value;
            var key = (item.Lane, item.Session);
            switch (item.Kind)
            {
                case PendingKind.Open:
                    RemovePending(node);
                    Open(item);
                    break;
                case PendingKind.Close:
                    if (_blocked.Contains(key))
                    {
                        // Its work is still running: the session goes when that is done, and no longer counts against the limit.
                        if (item.Lane.Sessions.TryGetValue(item.Session, out var closing))
                            closing.Closing = true;
                        break;
                    }
                    _pending.Remove(node);
                    if (_inBatch.Contains(key))
                    {
                        _closeAfter.Add(key);
                    }
                    else
                    {
                        Retire(item.Lane, item.Session);
                        Touch(item.Lane).Closes.Add(item.Session);
                    }
                    break;
                case PendingKind.Work:
                    if (budget == 0 || _inBatch.Contains(key) || _blocked.Contains(key))
                    {
                        _blocked.Add(key);
                        break;
                    }
                    if (!item.Lane.Sessions.TryGetValue(item.Session, out var session))
                    {
                        RemovePending(node);
                        Fail(item.Lane, item.Session, $"session {item.Session} is not open on the stage for layers {_stage.Range}");
                        break;
                    }
                    var remaining = item.Tokens.Length - item.Done;
                    var decoding = remaining == 1;
                    if (decoding && _stage.IsFirst && item.Lane.DecodingInPass >= MicroBatching.SessionsPerPass(item.Lane.Sessions.Count, item.Lane.Groups))
                    {
                        // This session's group steps next, while the stages after this one compute the group before it.
                        _blocked.Add(key);
                        break;
                    }
                    if (decoding)
                        LargestDecodeGroup = Math.Max(LargestDecodeGroup, ++item.Lane.DecodingInPass);
                    var count = Math.Min(remaining, budget);
                    var final = item.Done + count == item.Tokens.Length;
                    _slices.Add(new Slice(item, session, item.Start + item.Done, item.Done, count, final ? item.SampleStep : -1));
                    if (final && item.SampleStep >= 0)
                    {
                        session.AwaitedStep = item.SampleStep;
                        session.NextPosition = item.Start + item.Tokens.Length;
                    }
                    _inBatch.Add(key);
                    item.Done += count;
                    _pendingTokens -= count;
                    budget -= count;
                    if (final)
                        _pending.Remove(node);
                    break;
            }
            node = following;
        }
    }

    private void Open(Pending item)
    {
        var open = item.Open!;
        if (item.Lane.Sessions.ContainsKey(item.Session))
        {
            Fail(item.Lane, item.Session, $"session {item.Session} is already open on this lane");
            return;
        }
        var live = 0;
        foreach (var lane in _lanes)
        {
            foreach (var existing in lane.Sessions.Values)
            {
                if (!existing.Closing)
                    live++;
            }
        }
        if (live >= _options.MaxSessions)
        {
            Fail(item.Lane, item.Session, $"this stage holds {live} sessions, its limit; retry when one ends");
            return;
        }
        var positions = open.MaxPositions <= 0 ? _stage.ContextLength : Math.Min(open.MaxPositions, _stage.ContextLength);
        Sampler? sampler = null;
        if (_stage.IsLast && open.Pooling == 0)
        {
            try
            {
                var grammar = open.Sampling?.Grammar;
                var constraint = GrammarCache.ConstraintFor(grammar, string.IsNullOrEmpty(grammar) ? null : _vocabulary.Value, open.PromptLength);
                sampler = new Sampler(SamplingWire.FromWire(open.Sampling), _stage.Config.VocabSize, constraint);
            }
            catch (ArgumentException e)
            {
                Fail(item.Lane, item.Session, e.Message);
                return;
            }
        }
        var session = new Session(_stage.CreateCache(positions), sampler, open.TopLogprobs) { PromptLength = open.PromptLength, Pooled = PoolerFor(open) };
        if (_stage.IsFirst && open.FeedBack && open.Pooling == 0)
            session.FeedBack = new GenerationLimits(open.MaxTokens, positions, open.EndTokens.Count == 0 ? null : open.EndTokens.ToHashSet());
        item.Lane.Sessions[item.Session] = session;
        Touch(item.Lane).Opens.Add(open);
    }

    /// <summary>
    /// Fault injection (<see cref="StageHostOptions.FaultSlowdown"/>): makes the pass that began at <paramref name="started"/>
    /// take <paramref name="factor"/> times as long, as a CPU quota would, by sleeping out the rest on this thread. On
    /// Linux the sleep is to the microsecond (usleep), so a pass of 0.3 ms is stretched by the factor too: whole-millisecond
    /// sleeps made small stages look slower than the factor said, and spinning would take a core from the other stages,
    /// which a quota does not.
    /// </summary>
    private static void StretchForFault(long started, double factor)
    {
        if (!(factor > 1) || !double.IsFinite(factor))
            return;
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        var until = started + (long)(elapsed.TotalSeconds * Math.Min(factor, 1001) * System.Diagnostics.Stopwatch.Frequency);
        var left = (until - System.Diagnostics.Stopwatch.GetTimestamp()) * 1e6 / System.Diagnostics.Stopwatch.Frequency;
        if (left <= 0)
            return;
        if (OperatingSystem.IsLinux())
            _ = MicrosecondSleep((uint)Math.Min(left, uint.MaxValue));
        else
            Thread.Sleep((int)Math.Ceiling(left / 1000));
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "usleep")]
    private static partial int MicrosecondSleep(uint microseconds);

    private void Compute()
    {
        var c = _stage.Config;
        var d = c.EmbeddingLength;

        // Positions must continue each session's cache (or rewind it, for a replay); anything else fails that session only.
        var valid = 0;
        for (var i = 0; i < _slices.Count; i++)
        {
            var s = _slices[i];
            var error = Check(s);
            if (error is not null)
            {
                lock (_gate)
                {
                    Retire(s.Item.Lane, s.Item.Session);
                    Fail(s.Item.Lane, s.Item.Session, error);
                    Touch(s.Item.Lane).Closes.Add(s.Item.Session);
                }
                continue;
            }
            if (s.Start < s.Session.Cache.Length)
            {
                s.Session.Cache.Truncate(s.Start);
                if (s.Session.History.Count > s.Start)
                    s.Session.History.RemoveRange(s.Start, s.Session.History.Count - s.Start);
            }
            _slices[valid++] = s;
        }
        _slices.RemoveRange(valid, _slices.Count - valid);
        if (_slices.Count == 0)
            return;
        _generating = _stage.IsLast ? PutEmbeddingsLast() : _slices.Count;

        var n = 0;
        _batch.Clear();
        foreach (var s in _slices)
        {
            _batch.Add(new BatchSequence(s.Session.Cache, s.Count) { PromptLength = s.Session.PromptLength });
            n += s.Count;
        }
        if (_tokens.Length < n)
            _tokens = new int[Math.Max(n, _tokens.Length * 2)];
        if (!_stage.IsFirst && _input.Length < n * d)
            _input = new float[Math.Max(n * d, _input.Length * 2)];
        var offset = 0;
        foreach (var s in _slices)
        {
            s.Item.Tokens.AsSpan(s.TokenOffset, s.Count).CopyTo(_tokens.AsSpan(offset));
            if (!_stage.IsFirst)
                s.Item.Hidden.AsSpan((s.Item.HiddenRow + s.TokenOffset) * d, s.Count * d).CopyTo(_input.AsSpan(offset * d));
            offset += s.Count;
        }
        var batch = CollectionsMarshal.AsSpan(_batch);
        var outputLength = _stage.OutputLength(batch);
        if (_output.Length < outputLength)
            _output = new float[Math.Max(outputLength, _output.Length * 2)];

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            ForwardSplit(batch, n, d);
            var computed = System.Diagnostics.Stopwatch.GetTimestamp() - started;
            if (_options.FaultSlowdown is { } slowdown)
                StretchForFault(started, slowdown());
            var ticks = System.Diagnostics.Stopwatch.GetTimestamp() - started;
            Interlocked.Add(ref _computeTicks, ticks);
            _lastPassDecoded = n == _slices.Count && _generating == _slices.Count;
            if (_lastPassDecoded)
            {
                // Every session had one position: a decoding pass, the time the coordinator learns this stage's speed from.
                // The head's share is counted apart (a stretched pass stretches it alike), so layers and head can be told apart.
                Interlocked.Add(ref _decodeTicks, ticks);
                Interlocked.Add(ref _decodeHeadTicks, computed > 0 ? (long)((double)_stage.LastHeadTicks * ticks / computed) : 0);
                Interlocked.Increment(ref _decodePasses);
            }
        }
        catch (Exception e)
        {
            LogForwardFailed(e, _slices.Count);
            lock (_gate)
            {
                foreach (var s in _slices)
                {
                    Retire(s.Item.Lane, s.Item.Session);
                    Fail(s.Item.Lane, s.Item.Session, $"the stage for layers {_stage.Range} failed: {e.Message}");
                    Touch(s.Item.Lane).Closes.Add(s.Item.Session);
                }
            }
            return;
        }
        Interlocked.Increment(ref _forwardCalls);
        Interlocked.Add(ref _tokensProcessed, n);

        if (_stage.IsLast)
            Sample();
        else
            Forward(d);
    }

    private string? Check(Slice s)
    {
        var cache = s.Session.Cache;
        if (s.Start > cache.Length)
            return $"session {s.Item.Session} sent position {s.Start} but the stage for layers {_stage.Range} holds {cache.Length} positions";
        if (s.Start < 0)
            return $"session {s.Item.Session} sent negative position {s.Start}";
        if (s.Start + s.Count > cache.MaxTokens)
            return new ContextFullException(s.Start + s.Count, cache.MaxTokens).Message;
        // Ids matter at every stage: the first embeds them, the last indexes penalties by them (checked on arrival too).
        foreach (var id in s.Item.Tokens.AsSpan(s.TokenOffset, s.Count))
        {
            if ((uint)id >= (uint)_stage.Config.VocabSize)
                return $"token id {id} is outside the vocabulary (0..{_stage.Config.VocabSize - 1})";
        }
        return null;
    }

    private void Sample()
    {
        var vocab = _stage.Config.VocabSize;
        var pooledRow = 0;
        for (var i = 0; i < _slices.Count; i++)
        {
            var s = _slices[i];
            var session = s.Session;
            if (i >= _generating)
            {
                Pool(s, pooledRow);
                pooledRow += s.Count;
                continue;
            }
            session.History.AddRange(s.Item.Tokens.AsSpan(s.TokenOffset, s.Count));
            if (s.SampleStep < 0)
                continue;
            var logits = _output.AsSpan(i * vocab, vocab);
            int id;
            try
            {
                id = session.Sampler!.Sample(logits, CollectionsMarshal.AsSpan(session.History), s.SampleStep);
            }
            catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or InvalidOperationException)
            {
                // A fault of one session's input fails that session, never the compute thread (and so the stage).
                lock (_gate)
                {
                    Retire(s.Item.Lane, s.Item.Session);
                    Fail(s.Item.Lane, s.Item.Session, $"sampling failed: {e.Message}");
                    Touch(s.Item.Lane).Closes.Add(s.Item.Session);
                }
                continue;
            }
            var token = new SampledToken
            {
                Session = s.Item.Session,
                Step = s.SampleStep,
                Token = id,
                LogProb = Sampler.LogProbability(logits, id),
            };
            if (session.TopLogProbs > 0)
            {
                foreach (var (topId, logProb) in Sampler.TopLogProbabilities(logits, session.TopLogProbs))
                {
                    token.TopIds.Add(topId);
                    token.TopLogProbs.Add(logProb);
                }
            }
            lock (_gate)
            {
                Touch(s.Item.Lane).Tokens.Add(token);
                if (_stage.IsFirst)
                    FeedBack(s.Item.Lane, token);
            }
        }
    }

    /// <summary>
    /// At the first stage: queues a sampled token as its session's next position, unless the session asked the
    /// driver to do that, is closing, or has finished by the rule the driver applies too. Under the lock.
    /// </summary>
    private void FeedBack(Lane lane, SampledToken token)
    {
        if (!lane.Sessions.TryGetValue(token.Session, out var session) || session.FeedBack is not { } limits
            || session.Closing || session.AwaitedStep != token.Step)
            return;
        session.AwaitedStep = -1;
        if (limits.After(token.Token, (int)token.Step + 1, session.NextPosition) is not null)
            return;
        AddWork(new Pending(PendingKind.Work, lane, token.Session)
        {
            Start = session.NextPosition,
            Tokens = [token.Token],
            SampleStep = token.Step + 1,
        });
        Monitor.Pulse(_gate);
    }

    private void Forward(int d)
    {
        var row = 0;
        lock (_gate)
        {
            foreach (var s in _slices)
            {
                var entry = new WorkEntry { Session = s.Item.Session, Start = s.Start, SampleStep = s.SampleStep };
                entry.Tokens.Add(new ArraySegment<int>(s.Item.Tokens, s.TokenOffset, s.Count));
                var outgoing = Touch(s.Item.Lane);
                outgoing.Work.Add(entry);
                outgoing.Rows.Add((row, s.Count));
                row += s.Count;
            }
        }
    }

    /// <summary>The outgoing message of <paramref name="lane"/> for this step. Under the lock.</summary>
    private Outgoing Touch(Lane lane)
    {
        if (lane.Outgoing is null)
        {
            lane.Outgoing = new Outgoing();
            _touched.Add(lane);
        }
        return lane.Outgoing;
    }

    /// <summary>Reports a session's failure up its lane. Under the lock.</summary>
    private void Fail(Lane lane, ulong session, string message)
    {
        var output = new StageOutput();
        output.Failures.Add(new SessionFailure { Session = session, Message = message });
        lane.SendUp(output);
    }

    /// <summary>Sends every touched lane its share of this step: downstream (hidden states, opens, closes) or upstream (tokens).</summary>
    private void Flush()
    {
        List<Lane> lanes;
        lock (_gate)
        {
            lanes = [.. _touched];
            _touched.Clear();
        }
        var d = _stage.Config.EmbeddingLength;
        foreach (var lane in lanes)
        {
            Outgoing outgoing;
            lock (_gate)
            {
                outgoing = lane.Outgoing!;
                lane.Outgoing = null;
                if (lane.Closed)
                    continue;
            }
            if (_stage.IsLast)
            {
                if (outgoing.Tokens.Count > 0)
                {
                    var message = new StageOutput();
                    message.Tokens.Add(outgoing.Tokens);
                    lane.SendUp(message);
                }
                continue;
            }

            var input = new StageInput { Format = _options.Activations };
            input.Opens.Add(outgoing.Opens);
            input.Work.Add(outgoing.Work);
            input.Closes.Add(outgoing.Closes);
            if (outgoing.Rows.Count > 0)
            {
                var total = outgoing.Rows.Sum(r => r.Count);
                var values = new float[total * d];
                var at = 0;
                foreach (var (row, count) in outgoing.Rows)
                {
                    _output.AsSpan(row * d, count * d).CopyTo(values.AsSpan(at * d));
                    at += count;
                }
                input.Activations = UnsafeByteOperations.UnsafeWrap(ActivationCodec.Encode(_options.Activations, values, d));
                Interlocked.Add(ref _activationBytesSent, input.Activations.Length);
            }
            if (lane.Down is { } down)
            {
                // Sampling work gets an answer (a token) from downstream: until one comes, this lane waits on the next stage.
                foreach (var entry in outgoing.Work)
                {
                    if (entry.SampleStep >= 0)
                    {
                        lane.NoteForwarded(System.Diagnostics.Stopwatch.GetTimestamp(), _lastPassDecoded);
                        break;
                    }
                }
                down.TryWrite(input);
            }
        }
    }

    private enum PendingKind
    {
        Open,
        Work,
        Close,
    }

    /// <summary>A queued open, close or piece of work of one session.</summary>
    private sealed class Pending(PendingKind kind, Lane lane, ulong session)
    {
        public PendingKind Kind { get; } = kind;
        public Lane Lane { get; } = lane;
        public ulong Session { get; } = session;
        public SessionOpen? Open { get; init; }
        public int Start { get; init; }
        public int[] Tokens { get; init; } = [];
        public long SampleStep { get; init; } = -1;
        public float[]? Hidden { get; init; }
        public int HiddenRow { get; init; }

        /// <summary>Positions already taken into a batch (a long prompt goes in chunks).</summary>
        public int Done { get; set; }
    }

    private readonly record struct Slice(Pending Item, Session Session, int Start, int TokenOffset, int Count, long SampleStep);

    private sealed class Session(KvCache cache, Sampler? sampler, int topLogProbs)
    {
        public KvCache Cache { get; } = cache;
        public Sampler? Sampler { get; } = sampler;
        public int TopLogProbs { get; } = Math.Clamp(topLogProbs, 0, 20);

        /// <summary>Positions below it are the prompt's (SessionOpen.prompt_length): computed in the prompt's order.</summary>
        public int PromptLength { get; init; }

        /// <summary>Token ids of the positions so far (for repetition penalties at the last stage).</summary>
        public List<int> History { get; } = [];

        /// <summary>Set at the first stage when it feeds sampled tokens back itself (SessionOpen.feed_back).</summary>
        public GenerationLimits? FeedBack { get; set; }

        /// <summary>The step whose token the session waits for (-1: none), and the position that token will take.</summary>
        public long AwaitedStep { get; set; } = -1;

        public int NextPosition { get; set; }

        /// <summary>The driver closed the session; its close is queued.</summary>
        public bool Closing { get; set; }

        /// <summary>At the last stage, an embedding session's pooled positions (SessionOpen.pooling); null: it samples.</summary>
        public EmbeddingAccumulator? Pooled { get; init; }
    }

    private sealed class Outgoing
    {
        public List<SessionOpen> Opens { get; } = [];
        public List<WorkEntry> Work { get; } = [];
        public List<ulong> Closes { get; } = [];
        public List<(int Row, int Count)> Rows { get; } = [];
        public List<SampledToken> Tokens { get; } = [];
    }

    /// <summary>One upstream stream and, unless this is the last stage, its continuation to the next stage.</summary>
    private sealed class Lane(long id, CancellationTokenSource cancellation, StreamSender<StageOutput> up)
    {
        public long Id { get; } = id;

        /// <summary>The caller's certificate fingerprint (null without TLS).</summary>
        public string? CallerFingerprint { get; init; }
        public Dictionary<ulong, Session> Sessions { get; } = [];
        /// <summary>Messages waiting to go up: bounded, so an upstream that stops reading cannot grow the stage's memory.</summary>
        public StreamSender<StageOutput> Up { get; } = up;

        public const int MaxOutputBacklog = 65536;

        /// <summary>Queues a message for the upstream; when it has stopped reading, the lane ends instead.</summary>
        public void SendUp(StageOutput message)
        {
            if (!Up.TryWrite(message) && !Closed)
                Fail($"the upstream has not read {MaxOutputBacklog} messages");
        }
        /// <summary>The lane's stream to the next stage (null at the last stage).</summary>
        public StreamSender<StageInput>? Down { get; set; }

        // Stopwatch timestamps: since when the lane waits for the next stage's answer to sampling work (0: it does not),
        // and when it last sent such work. What the stage's status reports, so a driver can name a silent link.
        private long _downWaitingSince;
        private long _lastForward;
        private volatile bool _waitingOnDecode; // the wait began with a decoding step's work

        /// <param name="now">A stopwatch timestamp.</param>
        /// <param name="decoding">The work came from a pass in which every session had one position.</param>
        public void NoteForwarded(long now, bool decoding)
        {
            Volatile.Write(ref _lastForward, now);
            if (Interlocked.CompareExchange(ref _downWaitingSince, now, 0) == 0)
                _waitingOnDecode = decoding;
        }

        /// <summary>
        /// The next stage answered (anything it sends up): the lane no longer waits on it. Returns how long it waited
        /// (stopwatch ticks) when the wait was on a decoding step's work, else 0.
        /// </summary>
        public long NoteAnswered(long now)
        {
            var since = Interlocked.Exchange(ref _downWaitingSince, 0);
            return since != 0 && _waitingOnDecode ? Math.Max(0, now - since) : 0;
        }

        /// <summary>How long the lane has waited on the next stage, and how long ago it last sent it sampling work (both 0 when it does not wait).</summary>
        public (TimeSpan Waiting, TimeSpan SinceForward) DownstreamWait(long now)
        {
            var since = Volatile.Read(ref _downWaitingSince);
            return since == 0
                ? (TimeSpan.Zero, TimeSpan.Zero)
                : (System.Diagnostics.Stopwatch.GetElapsedTime(since, now), System.Diagnostics.Stopwatch.GetElapsedTime(Volatile.Read(ref _lastForward), now));
        }
        public string? Next { get; set; }

        /// <summary>Groups its decoding sessions are split into at the first stage (<see cref="MicroBatching"/>); 1 elsewhere.</summary>
        public int Groups { get; set; } = 1;

        /// <summary>Decoding sessions of this lane in the pass being collected (under the stage's lock).</summary>
        public int DecodingInPass { get; set; }

        /// <summary>The task relaying the next stage's output up (null at the last stage).</summary>
        public Task? Relay { get; set; }
        public volatile bool Closed;
        public Outgoing? Outgoing { get; set; }
        public volatile string? Failure;

        private readonly Lock _unreachableGate = new();
        private bool _unreachableFromDownstream;

        /// <summary>The stage further down that could not be reached (the next one or one after it), when known.</summary>
        public string? Unreachable { get; private set; }

        /// <summary>
        /// Records which stage could not be reached. What the downstream stage answered (<paramref name="fromDownstream"/>)
        /// wins over a guess from a transport error here, which is what a downstream's own failure also looks like.
        /// </summary>
        public void NoteUnreachable(string? endpoint, bool fromDownstream)
        {
            lock (_unreachableGate)
            {
                if (_unreachableFromDownstream)
                    return;
                if (fromDownstream)
                {
                    Unreachable = endpoint;
                    _unreachableFromDownstream = true;
                }
                else
                {
                    Unreachable ??= endpoint;
                }
            }
        }

        public void Fail(string reason)
        {
            if (Closed || Failure is not null)
                return;
            Failure = reason;
            // Callers may hold the stage's lock or be iterating its queue (a revocation, a full backlog), and with
            // Kestrel's inline scheduling a synchronous Cancel would run the lane's teardown right here, on this thread:
            // the callbacks run on the thread pool instead.
            _ = cancellation.CancelAsync();
        }
    }
}
