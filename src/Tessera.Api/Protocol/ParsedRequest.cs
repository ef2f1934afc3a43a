using Tessera.Generation;
using Tessera.Generation.Tools;

namespace Tessera.Api.Protocol;

/// <summary>A validated request of either endpoint: what to generate and how to answer.</summary>
internal sealed record ParsedRequest
{
    public required string Model { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }

    /// <summary>The token budget the client asked for; null means "as many as the context allows" (chat) or the endpoint's default.</summary>
    public int? MaxTokens { get; init; }

    public required SamplingParameters Sampling { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Keep generating past end-of-generation tokens up to the budget (llama.cpp's and vLLM's <c>ignore_eos</c>; benchmarks use it).</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>Whether to report log-probabilities, and how many alternatives per token.</summary>
    public bool LogProbs { get; init; }

    public int TopLogProbs { get; init; }

    /// <summary>Chat: the tools offered and how they may be used; null when none.</summary>
    public ChatTools? Tools { get; init; }

    /// <summary>Chat: the conversation.</summary>
    public IReadOnlyList<ChatMessage>? Messages { get; init; }

    /// <summary>Completions: the prompt as text, or as token ids.</summary>
    public string? Prompt { get; init; }

    public int[]? PromptTokens { get; init; }

    /// <summary>The grammar (GBNF) the output must follow: from response_format, or llama.cpp's grammar field; null for free text.</summary>
    public string? Grammar { get; init; }

    /// <summary>Completions: send the prompt back before the generated text.</summary>
    public bool Echo { get; init; }
}
