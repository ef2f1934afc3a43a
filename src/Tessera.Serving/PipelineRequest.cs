using Tessera.Generation;

namespace Tessera.Serving;

/// <summary>
/// One session for a <see cref="PipelineDriver"/>: a prompt, how to sample, and a token budget. The session
/// ends as <see cref="GenerationLimits"/> says: at a token of <see cref="EndTokens"/>, after <see cref="MaxTokens"/>
/// tokens, or when the context is full.
/// </summary>
public sealed record PipelineRequest(int[] Prompt, SamplingParameters Sampling, int MaxTokens)
{
    /// <summary>Alternatives reported with each token (0 to 20).</summary>
    public int TopLogProbs { get; init; }

    /// <summary>Tokens that end the session (the model's end-of-generation ids); null: none do.</summary>
    public IReadOnlySet<int>? EndTokens { get; init; }

    /// <summary>A grammar (GBNF) the output must follow, applied by the last stage where it samples; null: free text.</summary>
    public string? Grammar { get; init; }

    /// <summary>Set: an embedding session. The last stage pools the prompt's positions and sends one vector back instead of sampling.</summary>
    public EmbeddingPooling? Pooling { get; init; }

    /// <summary>The request as the generation contract sees it (what <see cref="GenerationRequest.Validate"/> checks).</summary>
    public GenerationOptions Options => new(Sampling, MaxTokens, TopLogProbs, IgnoreEndOfGeneration: EndTokens is null) { Grammar = Grammar };
}

/// <summary>
/// A token sampled by the last stage: its id, its index in the generation, its log-probability and, when
/// asked for, the most likely alternatives. <see cref="Finish"/> is set on the session's last token.
/// </summary>
public readonly record struct PipelineToken(int Id, int Step, float LogProb, (int Id, float LogProb)[]? TopLogProbs, FinishReason? Finish)
{
    public bool IsLast => Finish is not null;

    /// <summary>An embedding session's pooled, L2-normalised vector (its only answer); null for a sampled token.</summary>
    public float[]? Embedding { get; init; }
}
