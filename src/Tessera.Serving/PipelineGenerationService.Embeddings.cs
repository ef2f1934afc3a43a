using Tessera.Generation;

namespace Tessera.Serving;

/// <summary>
/// Embeddings through the pipeline: each input is one embedding session (<see cref="PipelineDriver.EmbedAsync"/>); the
/// inputs of a request run concurrently, each taking a session slot like a chat session, so the stages batch them and a
/// request of many inputs cannot hold more than the slots chat also waits for. A request counts once against the queue.
/// </summary>
public sealed partial class PipelineGenerationService
{
    public async Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<int[]> inputs, EmbeddingOptions options, CancellationToken cancellation)
    {
        Require(model);
        EmbeddingRequest.Validate(inputs, options, _served.ContextLength, VocabularySize, _driver.Stages[^1].EmbeddingLength);
        var pooling = EmbeddingRequest.Resolve(options.Pooling, _driver.DeclaredPooling);
        lock (_gate)
        {
            if (_slots.Free == 0 && _queued >= _options.MaxQueuedSessions)
                throw new CapacityExceededException(TimeSpan.FromSeconds(2), $"{_options.MaxActiveSessions} sessions running and {_queued} waiting");
            _queued++;
        }
        try
        {
            var vectors = new float[inputs.Count][];
            await Parallel.ForEachAsync(Enumerable.Range(0, inputs.Count), new ParallelOptions
            {
                MaxDegreeOfParallelism = _options.MaxActiveSessions,
                CancellationToken = cancellation,
            }, async (i, ct) =>
            {
                await _slots.WaitAsync(background: false, ct).ConfigureAwait(false);
                try
                {
                    vectors[i] = await _driver.EmbedAsync(inputs[i], pooling, ct).ConfigureAwait(false);
                }
                finally
                {
                    _slots.Release();
                }
            }).ConfigureAwait(false);
            return new EmbeddingResult(vectors, inputs.Sum(x => x.Length));
        }
        finally
        {
            lock (_gate)
                _queued--;
        }
    }
}
