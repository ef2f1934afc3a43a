using System.Diagnostics;
using Tessera.Generation;

namespace Tessera.Engine.Generation;

/// <summary>Counts and timings of one generation, filled in as it runs.</summary>
public sealed class GenerationStats
{
    public int PromptTokens { get; internal set; }
    public int GeneratedTokens { get; internal set; }
    public TimeSpan PrefillTime { get; internal set; }
    public TimeSpan DecodeTime { get; internal set; }

    /// <summary>Time spent choosing tokens from logits (sampling, and the grammar's masks when there is one).</summary>
    public TimeSpan SamplingTime { get; internal set; }

    /// <summary>With a grammar: tokens whose first draw the grammar refused (drawn again from the masked logits).</summary>
    public int GrammarRedraws { get; internal set; }

    /// <summary>"stop" (end-of-generation token or stop text), "length" (token limit) or "cancelled".</summary>
    public string FinishReason { get; internal set; } = "length";

    public double PrefillTokensPerSecond => PrefillTime > TimeSpan.Zero ? PromptTokens / PrefillTime.TotalSeconds : 0;

    /// <summary>Decode speed over the tokens after the first (the first comes from the prefill's logits).</summary>
    public double DecodeTokensPerSecond => DecodeTime > TimeSpan.Zero && GeneratedTokens > 1 ? (GeneratedTokens - 1) / DecodeTime.TotalSeconds : 0;

    internal static TimeSpan Since(long start) => Stopwatch.GetElapsedTime(start);
}
