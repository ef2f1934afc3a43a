using System.Runtime.CompilerServices;
using Tessera.Engine.Tokenization;
using Tessera.Generation.Constraints;

namespace Tessera.Engine.Sampling;

/// <summary>A tokenizer's tokens as grammars see them (built once per tokenizer: sorting a large vocabulary takes a while).</summary>
public static class ConstraintVocabulary
{
    private static readonly ConditionalWeakTable<Tokenizer, TokenVocabulary> Built = new();

    /// <summary>
    /// Each token's bytes as the output shows them (control and unknown tokens have none, so a grammar never produces
    /// them) and the end-of-generation ids.
    /// </summary>
    public static TokenVocabulary For(Tokenizer tokenizer) => Built.GetValue(tokenizer, static t =>
    {
        var bytes = new byte[t.VocabularySize][];
        for (var id = 0; id < bytes.Length; id++)
            bytes[id] = t.PieceBytes(id, renderSpecial: false).ToArray();
        return new TokenVocabulary(bytes, t.EndOfGenerationIds);
    });
}
