using System.Text.Json;

namespace Tessera.Training.Pool;

/// <summary>A worker as the coordinator sees it (for /api/training and the terminal).</summary>
public sealed record WorkerView(string Id, string Name, string State, int Round, int Step, float Loss, double TokensPerSecond,
    long Tokens, long BytesUp, long BytesDown, double SecondsSinceSeen);

/// <summary>One finished round, as history.jsonl and /api/training record it.</summary>
public sealed record RoundRecord(int Round, long Tokens, long BytesUp, long BytesDown, float TrainLoss, float? ValidationLoss,
    double Seconds, int Accepted, IReadOnlyList<string> Rejected, IReadOnlyList<string> LeftOut, DateTimeOffset At);

/// <summary>What the worker is told to do next.</summary>
public sealed record NextWork(string State, int Round, long Cursor, int Sequences);

/// <summary>
/// The training coordinator's state and rules, without HTTP (TrainingServer maps them to endpoints). Rounds: round r
/// starts from the global model after r rounds; its participants are the live workers when it starts, each handed
/// inner_steps × batch_sequences training windows from the data cursor. It closes when every participant has sent its
/// change or gone silent for worker_timeout_seconds, or straggler_timeout_seconds after the first change arrived; late
/// changes are refused as stale. Closing checks and averages the changes (<see cref="RoundAggregator"/>), takes the
/// outer Nesterov step, and turns the step into an encoded update that every worker applies to reach bitwise the same
/// global model; then it evaluates, records, checkpoints, and starts the next round with whoever is live. A worker
/// that arrives during a round waits for the next one.
/// </summary>
public sealed class TrainingCoordinator
{
    private static readonly JsonSerializerOptions JsonLine = new(TrainingConfig.Json) { WriteIndented = false };
    private readonly object _gate = new();
    private readonly TrainingConfig _config;
    private readonly TokenDataset _data;
    private readonly TimeProvider _time;
    private readonly Action<string> _log;
    private readonly string _runDirectory;
    private readonly RoundAggregator _aggregator = new();
    private readonly NesterovOuterOptimizer _outer;
    private readonly ITrainableModel? _evaluator;
    private readonly Dictionary<string, WorkerRecord> _workers = [];
    private readonly List<RoundRecord> _history = [];
    private float[] _global;
    private byte[]? _lastUpdate; // the encoded step from round-1 to round
    private CurrentRound? _current;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _closing;

    public TrainingCoordinator(TrainingConfig config, LlamaConfig shape, float[] initial, TokenDataset data, string runDirectory,
        string runId, ITrainableModel? evaluator, TimeProvider time, Action<string> log)
    {
        _config = config;
        Shape = shape;
        _data = data;
        _runDirectory = runDirectory;
        RunId = runId;
        _evaluator = evaluator;
        _time = time;
        _log = log;
        _global = initial;
        _outer = new NesterovOuterOptimizer(initial.Length, config.Outer.LearningRate, config.Outer.Momentum);
        Compression = config.CompressionKind;
        var latest = TrainingCheckpoint.ReadLatest(CheckpointDirectory, log);
        if (latest is { } c)
        {
            if (c.Header.RunId != runId || c.Header.ParameterCount != initial.Length)
                throw new TrainingConfigException($"The checkpoint {TrainingCheckpoint.PathFor(CheckpointDirectory, c.Header.Round)} belongs to another run or model shape; use a new run folder.");
            _global = c.Parameters;
            c.Momentum.CopyTo(_outer.MomentumBuffer);
            _aggregator.Restore(c.Header.PreviousAcceptedNorms);
            Round = c.Header.Round;
            Cursor = c.Header.Cursor;
            Tokens = c.Header.Tokens;
            BytesUp = c.Header.BytesUp;
            BytesDown = c.Header.BytesDown;
            LastValidationLoss = c.Header.ValidationLoss;
            log($"resumed from the checkpoint after round {Round} ({Tokens:N0} tokens trained)");
        }
        // Rounds after the checkpoint (checkpoint_every > 1) are run again and recorded again.
        _history.AddRange(TrainingPlots.ReadHistory(HistoryPath).Where(r => r.Round <= Round));
        if (Round == 0 && _history.Count == 0)
        {
            // The starting point, so curves begin at 0 tokens and a test can see the loss fall.
            var validation = Evaluate(_global);
            var start = new RoundRecord(0, 0, 0, 0, float.NaN, validation, 0, 0, [], [], _time.GetUtcNow());
            _history.Add(start);
            LastValidationLoss = validation;
            File.AppendAllText(HistoryPath, JsonSerializer.Serialize(start, JsonLine) + "\n");
            if (validation is { } v) log($"validation loss before training: {v:F4}");
        }
    }

    private float? Evaluate(float[] parameters)
    {
        if (_evaluator is null || _config.EvalSequences <= 0 || _data.ValidationSequences == 0) return null;
        parameters.CopyTo(_evaluator.Parameters, 0);
        var (inputs, targets, count) = _data.ValidationBatch(_config.EvalSequences);
        return _evaluator.Evaluate(inputs, targets, count);
    }

    public string RunId { get; }
    public LlamaConfig Shape { get; }
    public DeltaCompression Compression { get; }
    /// <summary>Rounds finished; the round in progress (or next) has this number.</summary>
    public int Round { get; private set; }
    public long Cursor { get; private set; }
    public long Tokens { get; private set; }
    public long BytesUp { get; private set; }
    public long BytesDown { get; private set; }
    public float? LastValidationLoss { get; private set; }
    public bool Done => Round >= _config.Rounds;
    public TrainingConfig Config => _config;
    public string CheckpointDirectory => Path.Combine(_runDirectory, "checkpoints");
    public string HistoryPath => Path.Combine(_runDirectory, "history.jsonl");
    public IReadOnlyList<RoundRecord> History { get { lock (_gate) return _history.ToList(); } }

    /// <summary>Completes when the run has done all its rounds.</summary>
    public Task Finished => _finished.Task;
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A worker says hello (again, after a restart of either side); its id is its certificate's node id.</summary>
    public void Hello(string id, string name)
    {
        lock (_gate)
        {
            if (!_workers.TryGetValue(id, out var w)) _workers[id] = w = new WorkerRecord(id, name);
            w.Name = name;
            w.LastSeen = _time.GetUtcNow();
            w.Gone = false;
            _log($"worker {name} ({id}) is here");
            Signal();
        }
        Tick();
    }

    /// <summary>Waits (up to <paramref name="wait"/>) until the worker has work: a round it takes part in, or the end.</summary>
    public async Task<NextWork> NextAsync(string id, TimeSpan wait, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + wait;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (!_workers.TryGetValue(id, out var w)) return new NextWork("hello", Round, 0, 0);
                w.LastSeen = _time.GetUtcNow();
                w.Gone = false;
                if (Done) return new NextWork("done", Round, 0, 0);
                if (_current is { } r && r.Assignments.TryGetValue(id, out var cursor) && !r.Contributions.ContainsKey(id))
                {
                    w.State = "training";
                    w.Round = r.Number;
                    return new NextWork("round", r.Number, cursor, _config.InnerSteps * _config.BatchSequences);
                }
                w.State = _current is null ? "waiting for workers" : "waiting for the next round";
                changed = _changed.Task;
            }
            Tick();
            var left = deadline - _time.GetUtcNow();
            if (left <= TimeSpan.Zero) return new NextWork("wait", Round, 0, 0);
            await Task.WhenAny(changed, Task.Delay(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1), cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>The global model (f32 bytes) and its version (rounds finished).</summary>
    public (byte[] Bytes, int Version) Model(string id)
    {
        lock (_gate)
        {
            var bytes = DeltaCodec.Encode(_global, DeltaCompression.F32);
            Count(id, down: bytes.Length);
            return (bytes, Round);
        }
    }

    /// <summary>The encoded step from version <paramref name="from"/> to the current one, when that is one round.</summary>
    public byte[]? Update(string id, int from)
    {
        lock (_gate)
        {
            if (_lastUpdate is null || from != Round - 1) return null;
            Count(id, down: _lastUpdate.Length);
            return _lastUpdate;
        }
    }

    /// <summary>Training windows at a cursor (count × (sequence_length+1) tokens).</summary>
    public int[] Data(long cursor, int count)
    {
        if (count is <= 0 or > 65_536 || cursor < 0) throw new ArgumentOutOfRangeException(nameof(count), "Ask for 1 to 65,536 windows at a cursor of 0 or more.");
        var windows = new int[count * (_data.SequenceLength + 1)];
        lock (_gate) _data.CopyTrainWindows(cursor, count, windows);
        return windows;
    }

    /// <summary>A progress report from a worker in a round (also its liveness signal).</summary>
    public void Progress(string id, int round, int step, float loss, double tokensPerSecond)
    {
        lock (_gate)
        {
            if (!_workers.TryGetValue(id, out var w)) return;
            w.LastSeen = _time.GetUtcNow();
            w.Gone = false;
            w.Round = round;
            w.Step = step;
            w.Loss = loss;
            w.TokensPerSecond = tokensPerSecond;
        }
    }

    /// <summary>A worker's change for a round: null when accepted for averaging, else why it was refused.</summary>
    public string? Contribute(string id, int round, long tokens, float loss, ReadOnlySpan<byte> encoded)
    {
        var delta = new float[_global.Length];
        lock (_gate)
        {
            if (!_workers.TryGetValue(id, out var w)) return "unknown worker: say hello first";
            w.LastSeen = _time.GetUtcNow();
            w.BytesUp += encoded.Length;
            BytesUp += encoded.Length;
            if (_current is not { } r || r.Number != round || _closing) return $"stale: round {round} is closed (now {Round})";
            if (!r.Assignments.ContainsKey(id)) return $"not a participant of round {round}";
            if (r.Contributions.ContainsKey(id)) return $"already contributed to round {round}";
            try { DeltaCodec.Decode(encoded, Compression, delta); }
            catch (FormatException ex) { return "malformed change: " + ex.Message; }
            r.Contributions[id] = new Contribution(w.Name, delta, tokens);
            r.Losses[id] = loss;
            r.FirstContributionAt ??= _time.GetUtcNow();
            w.Tokens += tokens;
            w.State = "sent its change";
            Signal();
        }
        Tick();
        return null;
    }

    /// <summary>Drops silent workers, starts and closes rounds; called after every event and by a timer.</summary>
    public void Tick()
    {
        CurrentRound? toClose = null;
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            foreach (var w in _workers.Values)
                if (!w.Gone && (now - w.LastSeen).TotalSeconds > _config.WorkerTimeoutSeconds)
                {
                    w.Gone = true;
                    w.State = "gone";
                    _log($"worker {w.Name} has been silent for {_config.WorkerTimeoutSeconds:0} s: left out");
                    Signal();
                }
            if (Done || _closing) return;
            if (_current is null)
            {
                var live = _workers.Values.Where(w => !w.Gone).ToList();
                var enough = live.Count >= _config.Workers || (Round > 0 && live.Count > 0);
                if (enough) StartRound(live, now);
                return;
            }
            var c = _current;
            var pending = c.Assignments.Keys.Where(id => !c.Contributions.ContainsKey(id) && !_workers[id].Gone).ToList();
            var stragglersTimedOut = c.FirstContributionAt is { } first && (now - first).TotalSeconds >= _config.StragglerTimeoutSeconds;
            if (pending.Count == 0 || stragglersTimedOut)
            {
                if (c.Contributions.Count == 0 && pending.Count == 0)
                {
                    // Everyone vanished: hand the round to whoever comes back.
                    _log($"round {c.Number}: every participant is gone; restarting it when workers return");
                    _current = null;
                    Signal();
                    return;
                }
                c.LeftOut = c.Assignments.Keys.Where(id => !c.Contributions.ContainsKey(id)).Select(id => _workers[id].Name).ToList();
                _closing = true;
                toClose = c;
            }
        }
        if (toClose is not null) _ = Task.Run(() => Close(toClose));
    }

    private void StartRound(List<WorkerRecord> live, DateTimeOffset now)
    {
        var round = new CurrentRound(Round, now);
        var perWorker = _config.InnerSteps * _config.BatchSequences;
        foreach (var w in live.OrderBy(w => w.Name, StringComparer.Ordinal))
        {
            round.Assignments[w.Id] = Cursor;
            Cursor += perWorker;
        }
        _current = round;
        _log($"round {Round + 1}/{_config.Rounds} starts with {live.Count} worker(s): {string.Join(", ", live.Select(w => w.Name).Order(StringComparer.Ordinal))}");
        Signal();
    }

    private void Close(CurrentRound round)
    {
        try
        {
            var ids = round.Contributions.Keys.ToList();
            var contributions = ids.Select(id => round.Contributions[id]).ToList();
            var mean = new float[_global.Length];
            var verdicts = _aggregator.Aggregate(contributions, mean);
            var rejected = new List<string>();
            double lossSum = 0, tokenSum = 0;
            long acceptedTokens = 0;
            for (var i = 0; i < verdicts.Count; i++)
            {
                if (!verdicts[i].Accepted)
                {
                    rejected.Add(verdicts[i].Worker);
                    _log($"round {round.Number + 1}: rejected the change from {verdicts[i].Worker}: {verdicts[i].Rejection}");
                    continue;
                }
                acceptedTokens += contributions[i].Tokens;
                lossSum += round.Losses[ids[i]] * contributions[i].Tokens;
                tokenSum += contributions[i].Tokens;
            }
            byte[]? update = null;
            float[] next = _global;
            if (acceptedTokens > 0)
            {
                var stepped = (float[])_global.Clone();
                _outer.StepWithPseudoGradient(stepped, mean);
                for (var i = 0; i < stepped.Length; i++) stepped[i] -= _global[i];
                update = DeltaCodec.Encode(stepped, Compression);
                var decoded = new float[stepped.Length];
                DeltaCodec.Decode(update, Compression, decoded);
                next = (float[])_global.Clone();
                System.Numerics.Tensors.TensorPrimitives.Add(next, decoded, next);
            }
            var validation = Evaluate(next);
            lock (_gate)
            {
                _global = next;
                _lastUpdate = update;
                Round = round.Number + 1;
                Tokens += acceptedTokens;
                LastValidationLoss = validation ?? LastValidationLoss;
                var record = new RoundRecord(Round, Tokens, BytesUp, BytesDown, tokenSum > 0 ? (float)(lossSum / tokenSum) : float.NaN, validation,
                    (_time.GetUtcNow() - round.StartedAt).TotalSeconds, verdicts.Count - rejected.Count, rejected, round.LeftOut, _time.GetUtcNow());
                _history.Add(record);
                if (Round % _config.CheckpointEvery == 0 || Done)
                    TrainingCheckpoint.Write(CheckpointDirectory, new CheckpointHeader(RunId, Round, Cursor, Tokens, BytesUp, BytesDown, _global.Length,
                        _aggregator.PreviousAcceptedNorms.ToList(), LastValidationLoss, _time.GetUtcNow()), _global, _outer.MomentumBuffer);
                File.AppendAllText(HistoryPath, JsonSerializer.Serialize(record, JsonLine) + "\n");
                _log($"round {Round}/{_config.Rounds}: train loss {record.TrainLoss:F4}" + (validation is { } v ? $", validation loss {v:F4}" : "")
                    + $", {Tokens:N0} tokens, {BytesUp + BytesDown:N0} bytes exchanged, {record.Seconds:F1} s"
                    + (round.LeftOut.Count > 0 ? $", left out: {string.Join(", ", round.LeftOut)}" : ""));
                _current = null;
                _closing = false;
                Signal();
                if (Done) _finished.TrySetResult();
            }
        }
        catch (Exception ex)
        {
            _log($"closing round {round.Number + 1} failed: {ex}");
            lock (_gate) { _closing = false; }
            _finished.TrySetException(ex);
        }
        Tick();
    }

    /// <summary>The workers, for /api/training and the terminal.</summary>
    public IReadOnlyList<WorkerView> Workers()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            return _workers.Values.OrderBy(w => w.Name, StringComparer.Ordinal).Select(w => new WorkerView(w.Id, w.Name, w.State, w.Round, w.Step, w.Loss,
                w.TokensPerSecond, w.Tokens, w.BytesUp, w.BytesDown, (now - w.LastSeen).TotalSeconds)).ToList();
        }
    }

    /// <summary>The current global parameters (a copy).</summary>
    public float[] GlobalParameters() { lock (_gate) return (float[])_global.Clone(); }

    private void Count(string id, long down)
    {
        BytesDown += down;
        if (_workers.TryGetValue(id, out var w)) w.BytesDown += down;
    }

    private void Signal()
    {
        var old = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        old.TrySetResult();
    }

    private sealed class WorkerRecord(string id, string name)
    {
        public string Id { get; } = id;
        public string Name { get; set; } = name;
        public DateTimeOffset LastSeen { get; set; }
        public bool Gone { get; set; }
        public string State { get; set; } = "joined";
        public int Round { get; set; }
        public int Step { get; set; }
        public float Loss { get; set; } = float.NaN;
        public double TokensPerSecond { get; set; }
        public long Tokens { get; set; }
        public long BytesUp { get; set; }
        public long BytesDown { get; set; }
    }

    private sealed class CurrentRound(int number, DateTimeOffset startedAt)
    {
        public int Number { get; } = number;
        public DateTimeOffset StartedAt { get; } = startedAt;
        public Dictionary<string, long> Assignments { get; } = [];
        public Dictionary<string, Contribution> Contributions { get; } = [];
        public Dictionary<string, float> Losses { get; } = [];
        public DateTimeOffset? FirstContributionAt { get; set; }
        public List<string> LeftOut { get; set; } = [];
    }
}
