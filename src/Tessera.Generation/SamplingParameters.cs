namespace Tessera.Generation;

/// <summary>
/// How the next token is chosen. Temperature 0 means greedy. Penalties follow llama.cpp's meaning:
/// repetition divides positive logits (multiplies negative ones) of tokens seen in the last
/// <see cref="PenaltyLastN"/> tokens; frequency and presence subtract count * f + (count > 0) * p.
/// </summary>
public sealed record SamplingParameters
{
    public float Temperature { get; init; } = 0.8f;
    public int TopK { get; init; } = 40;
    public float TopP { get; init; } = 0.95f;
    public float MinP { get; init; } = 0.05f;
    public float RepetitionPenalty { get; init; } = 1.0f;
    public float FrequencyPenalty { get; init; }
    public float PresencePenalty { get; init; }
    public int PenaltyLastN { get; init; } = 64;

    /// <summary>Seed of the random draws; the same seed gives the same text.</summary>
    public ulong Seed { get; init; }

    public static SamplingParameters Greedy { get; } = new() { Temperature = 0, TopK = 1, TopP = 1, MinP = 0 };

    public bool IsGreedy => Temperature <= 0 || TopK == 1;

    /// <summary>Throws <see cref="ArgumentException"/> with a message a user can act on when a value is out of range.</summary>
    public void Validate()
    {
        if (float.IsNaN(Temperature) || Temperature < 0 || Temperature > 100)
            throw new ArgumentException($"temperature must be between 0 and 100, got {Temperature}.");
        if (TopK < 0)
            throw new ArgumentException($"top_k must be 0 (off) or positive, got {TopK}.");
        if (float.IsNaN(TopP) || TopP <= 0 || TopP > 1)
            throw new ArgumentException($"top_p must be in (0, 1], got {TopP}.");
        if (float.IsNaN(MinP) || MinP < 0 || MinP > 1)
            throw new ArgumentException($"min_p must be in [0, 1], got {MinP}.");
        if (float.IsNaN(RepetitionPenalty) || RepetitionPenalty <= 0)
            throw new ArgumentException($"repetition penalty must be positive, got {RepetitionPenalty}.");
        if (float.IsNaN(FrequencyPenalty) || Math.Abs(FrequencyPenalty) > 2)
            throw new ArgumentException($"frequency_penalty must be between -2 and 2, got {FrequencyPenalty}.");
        if (float.IsNaN(PresencePenalty) || Math.Abs(PresencePenalty) > 2)
            throw new ArgumentException($"presence_penalty must be between -2 and 2, got {PresencePenalty}.");
        if (PenaltyLastN < 0)
            throw new ArgumentException($"penalty window must be non-negative, got {PenaltyLastN}.");
    }
}
