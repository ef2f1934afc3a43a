using Tessera.Identity;
namespace Tessera.Pool.Security;

/// <summary>Why a join token is accepted or refused.</summary>
public enum TokenVerdict
{
    Valid,
    Unknown,
    Forged,
    Expired,
    Revoked,
}

/// <summary>Pure validation of a presented token id and secret against the stored record.</summary>
public static class TokenValidator
{
    public static TokenVerdict Validate(TokenRecord? record, string presentedSecret, DateTimeOffset now)
    {
        if (record is null)
            return TokenVerdict.Unknown;
        if (!Secrets.Matches(presentedSecret ?? string.Empty, record.SecretHash))
            return TokenVerdict.Forged;
        if (record.RevokedAt is not null)
            return TokenVerdict.Revoked;
        if (now >= record.ExpiresAt)
            return TokenVerdict.Expired;
        return TokenVerdict.Valid;
    }

    /// <summary>The message shown to the person who ran <c>tessera join</c>.</summary>
    public static string Explain(TokenVerdict verdict, string tokenId, TokenRecord? record) => verdict switch
    {
        TokenVerdict.Valid => $"Token {tokenId} is valid.",
        TokenVerdict.Unknown => $"Join refused: this pool has no token with id {tokenId}. The token may belong to another pool or be forged; create one on the coordinator with `tessera token create`.",
        TokenVerdict.Forged => $"Join refused: the secret does not match token {tokenId}; the token was altered or forged. Copy the whole token again, or create a new one with `tessera token create`.",
        TokenVerdict.Revoked => $"Join refused: token {tokenId} was revoked at {record?.RevokedAt:u}. Create a new one with `tessera token create`.",
        TokenVerdict.Expired => $"Join refused: token {tokenId} expired at {record?.ExpiresAt:u}. Create a new one with `tessera token create --ttl 24h`.",
        _ => throw new ArgumentOutOfRangeException(nameof(verdict), verdict, null),
    };
}
