using Tessera.Engine.Tokenization;

namespace Tessera.Api;

/// <summary>Spells tokens with one model's tokenizer (a host serving one model, such as <c>tessera serve</c>).</summary>
public sealed class TokenizerDecoder(Tokenizer tokenizer) : ITokenDecoder
{
    public byte[]? TokenBytes(string model, int tokenId) =>
        tokenId >= 0 && tokenId < tokenizer.VocabularySize ? tokenizer.TokenBytes(tokenId) : null;
}
