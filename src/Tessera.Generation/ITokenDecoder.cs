namespace Tessera.Generation;

/// <summary>The bytes a model's token stands for, to spell the alternatives reported with log-probabilities.</summary>
public interface ITokenDecoder
{
    /// <summary>The UTF-8 bytes of token <paramref name="tokenId"/> of <paramref name="model"/> (possibly part of a character), or null if unknown.</summary>
    byte[]? TokenBytes(string model, int tokenId);
}
