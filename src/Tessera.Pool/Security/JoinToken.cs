using System.Buffers.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tessera.Pool.Security;

/// <summary>
/// A join token: <c>tsr1_</c> followed by base64url of a JSON object with the coordinator's
/// address, the SHA-256 fingerprint of the pool CA certificate, the token id and its secret.
/// The coordinator stores only a hash of the secret.
/// </summary>
public sealed partial record JoinToken(string Address, string CaSha256, string Id, string Secret)
{
    public const string Prefix = "tsr1_";

    private const string Hint = "A token starts with tsr1_ and is printed by `tessera pool start` and `tessera token create`; copy it whole.";

    public string Encode()
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(new Payload(Address, CaSha256, Id, Secret), PayloadContext.Default.Payload);
        return Prefix + Base64Url.EncodeToString(json);
    }

    public override string ToString() => $"token {Id} for {Address}";

    /// <summary>Parses a token; throws <see cref="JoinTokenFormatException"/> with the reason when it is malformed.</summary>
    public static JoinToken Parse(string text)
    {
        text = (text ?? string.Empty).Trim();
        if (text.Length == 0)
            throw new JoinTokenFormatException("The join token is empty. " + Hint);
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
            throw new JoinTokenFormatException($"The join token is malformed: it does not start with '{Prefix}'. " + Hint);
        byte[] json;
        try
        {
            json = Base64Url.DecodeFromChars(text.AsSpan(Prefix.Length));
        }
        catch (FormatException)
        {
            throw new JoinTokenFormatException("The join token is malformed: it is not valid base64url (was it cut or wrapped?). " + Hint);
        }
        Payload? payload;
        try
        {
            payload = JsonSerializer.Deserialize(json, PayloadContext.Default.Payload);
        }
        catch (JsonException)
        {
            throw new JoinTokenFormatException("The join token is malformed: its content is not readable. " + Hint);
        }
        if (payload is null || string.IsNullOrWhiteSpace(payload.Addr) || string.IsNullOrWhiteSpace(payload.Id) || string.IsNullOrWhiteSpace(payload.Secret))
            throw new JoinTokenFormatException("The join token is malformed: the address, id or secret is missing. " + Hint);
        if (payload.CaSha256 is null || payload.CaSha256.Length != 64 || !payload.CaSha256.All(Uri.IsHexDigit))
            throw new JoinTokenFormatException("The join token is malformed: the CA fingerprint is not a SHA-256 hex string. " + Hint);
        return new JoinToken(payload.Addr, payload.CaSha256.ToLowerInvariant(), payload.Id, payload.Secret);
    }

    internal sealed record Payload(
        [property: JsonPropertyName("addr")] string Addr,
        [property: JsonPropertyName("caSha256")] string CaSha256,
        [property: JsonPropertyName("id")] string Id,
        [property: JsonPropertyName("secret")] string Secret);

    [JsonSerializable(typeof(Payload))]
    internal sealed partial class PayloadContext : JsonSerializerContext;
}
