using System.Runtime.InteropServices;
using Tessera.Engine.Model;
using Tessera.Generation;

namespace Tessera.Engine.Generation;

/// <summary>
/// Embeddings on the service's worker loop. A request is a job in a queue that counts against the same limit as chat
/// sessions (one job, however many inputs, takes one place). Between two chat passes the loop runs one embedding pass over
/// at most <see cref="LocalGenerationServiceOptions.PrefillTokensPerStep"/> positions of the oldest job (several inputs
/// in one batch, a long input in chunks), so chat sessions keep their pace while embeddings run.
/// </summary>
public sealed partial class LocalGenerationService
{
    private readonly Queue<EmbeddingJob> _embeddingJobs = new();
    private readonly List<BatchSequence> _embeddingBatch = [];
    private readonly List<int> _embeddingTokens = [];
    private readonly List<(int Input, int Count)> _embeddingMembers = [];
    private float[] _normed = [];

    /// <summary>Places taken against the admission limit: sessions running and waiting, and embedding jobs. Caller holds _gate.</summary>
    private int Occupied => _active.Count + _waiting.Count + _waitingBackground.Count + _embeddingJobs.Count;

    public Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<int[]> inputs, EmbeddingOptions options, CancellationToken cancellation)
    {
        Require(model);
        var config = _model.Stage.Config;
        EmbeddingRequest.Validate(inputs, options, _served.ContextLength, VocabularySize, config.EmbeddingLength);
        var job = new EmbeddingJob([.. inputs], EmbeddingRequest.Resolve(options.Pooling, config.PoolingType), cancellation);
        lock (_gate)
        {
            if (Occupied >= _options.MaxActiveSessions + _options.MaxQueuedSessions)
                throw new CapacityExceededException(TimeSpan.FromSeconds(2), $"{_active.Count} sessions running, {_waiting.Count} waiting and {_embeddingJobs.Count} embedding requests");
            _embeddingJobs.Enqueue(job);
        }
        // A cancelled job ends for its caller at once; the loop frees its caches when it next looks.
        job.Registration = cancellation.Register(() =>
        {
            job.Completion.TrySetCanceled(cancellation);
            _wake.Release();
        });
        _wake.Release();
        return job.Completion.Task;
    }

    /// <summary>One embedding pass of the oldest job, if any; true when it ran one. On the worker thread.</summary>
    private bool RunEmbeddingStep(TransformerStage stage)
    {
        EmbeddingJob? job;
        lock (_gate)
        {
            while (_embeddingJobs.TryPeek(out job) && job.Completion.Task.IsCompleted)
                _embeddingJobs.Dequeue().Release();
            if (job is null)
                return false;
        }

        var d = stage.Config.EmbeddingLength;
        _embeddingBatch.Clear();
        _embeddingTokens.Clear();
        _embeddingMembers.Clear();
        var budget = Math.Max(1, _options.PrefillTokensPerStep);
        for (var i = job.Next; i < job.Inputs.Length && budget > 0; i++)
        {
            var input = job.Inputs[i];
            var state = job.States[i] ??= new InputState(stage.CreateCache(input.Length), new EmbeddingAccumulator(job.Pooling, d));
            var count = Math.Min(budget, input.Length - state.Pooled.Positions);
            _embeddingTokens.AddRange(input.AsSpan(state.Pooled.Positions, count));
            _embeddingBatch.Add(new BatchSequence(state.Cache, count) { PromptLength = input.Length });
            _embeddingMembers.Add((i, count));
            budget -= count;
        }

        try
        {
            var batch = CollectionsMarshal.AsSpan(_embeddingBatch);
            var length = stage.OutputLength(batch, LogitsMode.NormedHidden);
            if (_normed.Length < length)
                _normed = new float[length];
            stage.Forward(batch, CollectionsMarshal.AsSpan(_embeddingTokens), default, _normed, LogitsMode.NormedHidden);
            var row = 0;
            foreach (var (i, count) in _embeddingMembers)
            {
                var state = job.States[i]!;
                state.Pooled.Add(_normed.AsSpan(row * d, count * d));
                row += count;
                if (state.Pooled.Positions == job.Inputs[i].Length)
                {
                    job.Results[i] = state.Pooled.Result();
                    state.Cache.Dispose();
                    job.States[i] = null;
                }
            }
            while (job.Next < job.Inputs.Length && job.Results[job.Next] is not null)
                job.Next++;
            if (job.Next == job.Inputs.Length)
                job.Completion.TrySetResult(new EmbeddingResult(job.Results!, job.Inputs.Sum(x => x.Length)));
        }
        catch (Exception e)
        {
            job.Completion.TrySetException(e);
        }
        if (job.Completion.Task.IsCompleted)
        {
            lock (_gate)
            {
                if (_embeddingJobs.TryPeek(out var head) && head == job)
                    _embeddingJobs.Dequeue();
            }
            job.Release();
        }
        return true;
    }

    /// <summary>The service stops: every job left fails. On the worker thread, after its loop.</summary>
    private void AbandonEmbeddings()
    {
        lock (_gate)
        {
            foreach (var job in _embeddingJobs)
            {
                job.Completion.TrySetException(new ObjectDisposedException(nameof(LocalGenerationService)));
                job.Release();
            }
            _embeddingJobs.Clear();
        }
    }

    private sealed record InputState(KvCache Cache, EmbeddingAccumulator Pooled);

    private sealed class EmbeddingJob(int[][] inputs, EmbeddingPooling pooling, CancellationToken cancellation)
    {
        public int[][] Inputs { get; } = inputs;
        public EmbeddingPooling Pooling { get; } = pooling;
        public CancellationToken Cancellation { get; } = cancellation;
        public float[]?[] Results { get; } = new float[inputs.Length][];
        public InputState?[] States { get; } = new InputState?[inputs.Length];

        /// <summary>The first input without a result.</summary>
        public int Next { get; set; }

        public TaskCompletionSource<EmbeddingResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }

        /// <summary>Frees the caches of inputs in progress (on the worker thread) and the cancellation callback.</summary>
        public void Release()
        {
            for (var i = 0; i < States.Length; i++)
            {
                States[i]?.Cache.Dispose();
                States[i] = null;
            }
            Registration.Dispose();
        }
    }
}
