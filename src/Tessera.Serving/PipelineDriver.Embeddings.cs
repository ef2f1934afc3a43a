using Tessera.Generation;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// Embedding sessions: the prompt goes through the stages as prefill work like any session's, and the last stage answers
/// the entry that samples with the pooled vector. Recovery and planned moves replay them like any session (the prompt from
/// position 0), and the vector is delivered once: only an answer on the lane in use completes the session.
/// </summary>
public sealed partial class PipelineDriver
{
    /// <summary>The pooling the model declares (GGUF pooling_type, from the last stage), or null when it declares none.</summary>
    public int? DeclaredPooling
    {
        get
        {
            lock (_gate)
                return _lane.Stages[^1].PoolingType is var p and >= 0 ? p : null;
        }
    }

    /// <summary>
    /// Embeds one input through the stages: its final-normed hidden states pooled by <paramref name="pooling"/> and
    /// L2-normalised (the same vector a whole model in one process gives, with f32 activations).
    /// </summary>
    /// <exception cref="ArgumentException">The prompt is empty, longer than the context, or holds ids outside the vocabulary.</exception>
    /// <exception cref="PipelineException">A stage failed or refused the session; <see cref="PipelineException.IsRetryable"/> when recovery gave up.</exception>
    public async Task<float[]> EmbedAsync(int[] prompt, EmbeddingPooling pooling, CancellationToken cancellation = default)
    {
        var request = new PipelineRequest(prompt, SamplingParameters.Greedy, 1) { Pooling = pooling };
        await foreach (var token in GenerateAsync(request, cancellation).ConfigureAwait(false))
        {
            if (token.Embedding is { } vector)
                return vector;
        }
        throw new PipelineException("The pipeline ended the embedding session without a vector.");
    }

    /// <summary>Checks <paramref name="request"/> and gives its limits: a generation's, or an embedding's (its prompt's positions only).</summary>
    private GenerationLimits LimitsOf(PipelineRequest request)
    {
        if (request.Pooling is null)
        {
            GenerationRequest.Validate(request.Prompt, request.Options, ContextLength, VocabSize);
            return GenerationLimits.For(request.Prompt.Length, request.MaxTokens, ContextLength, request.EndTokens);
        }
        EmbeddingRequest.Validate([request.Prompt], new EmbeddingOptions { Pooling = request.Pooling }, ContextLength, VocabSize, EmbeddingWidth);
        return new GenerationLimits(1, request.Prompt.Length, null);
    }

    private int EmbeddingWidth
    {
        get
        {
            lock (_gate)
                return _lane.Stages[^1].EmbeddingLength;
        }
    }

    /// <summary>The last stage's answer to an embedding session; called under the gate.</summary>
    private void OnEmbedding(Lane lane, DriverSession session, SampledToken t)
    {
        if (t.Embedding.Count == 0)
            return;
        _stall?.Completed(session.InFlight);
        session.InFlight = 0;
        session.Output.Writer.TryWrite(new PipelineToken(0, 0, 0, null, FinishReason.Stop) { Embedding = [.. t.Embedding] });
        if (session.Finish())
        {
            _sessions.Remove(t.Session);
            lane.Outbound.Writer.TryWrite(Outbound.Close(t.Session));
            session.Output.Writer.TryComplete();
        }
    }
}
