using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Tessera.Identity;

/// <summary>Random identifiers and secrets, and their hashes.</summary>
public static class Secrets
{
    /// <summary>A random secret of 32 bytes, base64url.</summary>
    public static string NewSecret() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>A short random id with a prefix, e.g. <c>tok_3f9a1c2b7d4e</c>.</summary>
    public static string NewId(string prefix) => prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>SHA-256 of the secret, hex. Secrets are 256-bit random values, so a plain hash suffices.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Compares a secret with a stored hash in constant time.</summary>
    public static bool Matches(string secret, string storedHash)
    {
        var actual = Encoding.ASCII.GetBytes(Hash(secret));
        var expected = Encoding.ASCII.GetBytes(storedHash);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }
}
