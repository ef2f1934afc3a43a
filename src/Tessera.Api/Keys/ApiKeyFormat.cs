using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Tessera.Api.Keys;

/// <summary>API keys: <c>tsk_</c> and 32 random bytes (base64url); stored only as their SHA-256.</summary>
public static class ApiKeyFormat
{
    public const string Prefix = "tsk_";

    /// <summary>A new random key, e.g. <c>tsk_Qm9...</c>.</summary>
    public static string NewKey() => Prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>A new key id, e.g. <c>key_3f9a1c2b7d4e</c> (not secret).</summary>
    public static string NewId() => "key_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>SHA-256 of the key, hex. Keys are 256-bit random values, so a plain hash suffices.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Compares a key with a stored hash in constant time.</summary>
    public static bool Matches(string key, string storedHash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(key)), Encoding.ASCII.GetBytes(storedHash));

    /// <summary>What lists show of a key: its prefix and last four characters (<c>tsk_...x9Qa</c>).</summary>
    public static string Hint(string key) => key.Length <= 8 ? Prefix + "..." : $"{key[..4]}...{key[^4..]}";
}
