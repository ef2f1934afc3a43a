using Tessera.Engine.Sampling;
using Tessera.Engine.Templates;

namespace Tessera.Engine.Generation;

/// <summary>
/// What an API front end needs from whatever runs models: a whole model in this process
/// (<see cref="LocalGenerationService"/>) or a pipeline of stages across the pool. Implementations are
/// thread-safe; each generation is an independent session.
/// </summary>
public interface ITextGenerationService
{
    /// <summary>Models this service can run now.</summary>
    IReadOnlyList<ServedModel> ListModels();

    /// <summary>The model named <paramref name="id"/>, or null.</summary>
    ServedModel? FindModel(string id);

    /// <summary>Renders <paramref name="messages"/> with the model's chat template (ending with the assistant's turn) and tokenizes.</summary>
    /// <exception cref="UnknownModelException">No such model.</exception>
    /// <exception cref="Templates.ChatTemplateException">The template rejects the conversation (message says why).</exception>
    int[] TokenizeChat(string model, IReadOnlyList<ChatMessage> messages);

    /// <summary>Tokenizes a plain prompt (with BOS where the model wants it).</summary>
    int[] TokenizePrompt(string model, string prompt);

    /// <summary>
    /// Streams the tokens generated after <paramref name="prompt"/>. The sequence ends at an end-of-generation
    /// token (included, with empty text) or at <see cref="GenerationOptions.MaxTokens"/>. Cancelling frees
    /// the session everywhere.
    /// </summary>
    /// <exception cref="UnknownModelException">No such model.</exception>
    /// <exception cref="Model.ContextFullException">Prompt plus one token does not fit the context.</exception>
    /// <exception cref="CapacityExceededException">Too many sessions are waiting; retry later.</exception>
    IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options, CancellationToken cancellation);
}

/// <summary>A model as clients see it (OpenAI's /v1/models).</summary>
public sealed record ServedModel(string Id, int ContextLength, string OwnedBy, DateTimeOffset Created);

/// <summary>
/// How to generate: sampling, a token budget, how many alternatives to report per token, and whether to keep
/// going past end-of-generation tokens (llama.cpp's ignore_eos; benchmarks and tests use it for fixed lengths).
/// </summary>
public sealed record GenerationOptions(SamplingParameters Sampling, int MaxTokens, int TopLogProbs = 0, bool IgnoreEndOfGeneration = false);

/// <summary>The requested model is not served.</summary>
public sealed class UnknownModelException(string model)
    : Exception($"The model '{model}' does not exist or is not deployed; list models with GET /v1/models.")
{
    public string Model { get; } = model;
}

/// <summary>More sessions than the service can hold or queue.</summary>
public sealed class CapacityExceededException(TimeSpan retryAfter, string detail)
    : Exception($"The server is at capacity ({detail}); retry after {Math.Ceiling(retryAfter.TotalSeconds)} s.")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>
/// An error that may pass: a service whose failure is transient (a pipeline lost a stage and could not be replaced in
/// time) marks it so, and the HTTP layer answers 503 with <see cref="RetryAfter"/> instead of a server error.
/// </summary>
public interface IRetryableError
{
    /// <summary>True when the same request may succeed if sent again.</summary>
    bool IsRetryable { get; }

    /// <summary>How long a client should wait before sending it again.</summary>
    TimeSpan RetryAfter { get; }
}
