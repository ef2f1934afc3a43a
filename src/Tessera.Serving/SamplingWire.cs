using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>Converts sampling parameters to and from their wire form.</summary>
internal static class SamplingWire
{
    public static Sampling ToWire(SamplingParameters p, string? grammar = null) => new()
    {
        Grammar = grammar ?? "",
        Temperature = p.Temperature,
        TopK = p.TopK,
        TopP = p.TopP,
        MinP = p.MinP,
        RepetitionPenalty = p.RepetitionPenalty,
        FrequencyPenalty = p.FrequencyPenalty,
        PresencePenalty = p.PresencePenalty,
        PenaltyLastN = p.PenaltyLastN,
        Seed = p.Seed,
    };

    public static SamplingParameters FromWire(Sampling? s) => s is null
        ? SamplingParameters.Greedy
        : new SamplingParameters
        {
            Temperature = s.Temperature,
            TopK = s.TopK,
            TopP = s.TopP,
            MinP = s.MinP,
            RepetitionPenalty = s.RepetitionPenalty,
            FrequencyPenalty = s.FrequencyPenalty,
            PresencePenalty = s.PresencePenalty,
            PenaltyLastN = s.PenaltyLastN,
            Seed = s.Seed,
        };
}
