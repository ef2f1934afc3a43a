namespace Tessera.Generation;

/// <summary>
/// How to generate: sampling, a token budget, how many alternatives to report per token, and whether to keep
/// going past end-of-generation tokens (llama.cpp's ignore_eos; benchmarks and tests use it for fixed lengths).
/// </summary>
public sealed record GenerationOptions(SamplingParameters Sampling, int MaxTokens, int TopLogProbs = 0, bool IgnoreEndOfGeneration = false)
{
    /// <summary>The most alternatives a token may report (OpenAI's bound on top_logprobs).</summary>
    public const int MaxTopLogProbs = 20;

    /// <summary>
    /// A grammar the output must follow, in llama.cpp's GBNF (<see cref="Constraints.Gbnf"/>): structured output and
    /// forced tool calls. Applied where tokens are sampled; null for free text.
    /// </summary>
    public string? Grammar { get; init; }

    /// <summary>
    /// Background work (a batch line): it waits while interactive requests wait for a session, and takes a session only
    /// when none does (<see cref="PrioritySlots"/>).
    /// </summary>
    public bool Background { get; init; }
}
