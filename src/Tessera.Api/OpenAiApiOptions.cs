using Tessera.Generation;

namespace Tessera.Api;

/// <summary>How the OpenAI-compatible endpoints behave where a request leaves things open.</summary>
public sealed record OpenAiApiOptions
{
    /// <summary>
    /// Sampling used for what a request does not set: OpenAI's temperature 1 and top_p 1, with llama.cpp's
    /// top_k 40 and min_p 0.05 (requests may set top_k and min_p, 0 turns them off). The seed is random per request.
    /// </summary>
    public SamplingParameters DefaultSampling { get; init; } = new() { Temperature = 1, TopK = 40, TopP = 1, MinP = 0.05f };

    /// <summary>max_tokens of /v1/completions when the request has none (OpenAI's default is 16). Chat defaults to the rest of the context.</summary>
    public int DefaultCompletionMaxTokens { get; init; } = 16;

    /// <summary>Clock for the <c>created</c> fields.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// Spells token ids as bytes, for the alternatives of log-probabilities (the generation service reports them by
    /// id). Without one, the generation service is asked if it implements <see cref="ITokenDecoder"/>; failing
    /// that, alternatives read <c>&lt;token 123&gt;</c>.
    /// </summary>
    public ITokenDecoder? TokenDecoder { get; init; }

    /// <summary>
    /// The largest request body read, in bytes (8 MiB: a full 128k-token context of text with room to spare); a larger
    /// one is refused with 413 before it is read, or as soon as it passes the bound when it came without a length.
    /// </summary>
    public long MaxRequestBodyBytes { get; init; } = 8L << 20;

    /// <summary>
    /// Generation requests read, parsed and tokenized at once (64); more get 429 before their body is read. With
    /// <see cref="MaxRequestBodyBytes"/> this bounds the memory a flood of requests can take. Streams that are already
    /// generating do not count (the generation service bounds those).
    /// </summary>
    public int MaxPreparingRequests { get; init; } = 64;

    /// <summary>OpenAI's Files and Batch API (<c>/v1/files</c>, <c>/v1/batches</c>), kept in a folder; null: not served.</summary>
    public Batches.BatchOptions? Batches { get; init; }

    /// <summary>Value of the <c>owned_by</c> field when the service gives none.</summary>
    public string OwnedBy { get; init; } = "tessera";
}
