using Tessera.Identity;

namespace Tessera.Pool.Security;

/// <summary>Why a join token is accepted or refused.</summary>
public enum TokenVerdict
{
    Valid,

    /// <summary>No such token, or the secret does not match: told apart to no one, so ids cannot be probed.</summary>
    Invalid,
    Expired,
    Revoked,

    /// <summary>It admitted as many machines as it may.</summary>
    UsedUp,
}

/// <summary>Pure validation of a presented token id and secret against the stored record.</summary>
public static class TokenValidator
{
    /// <summary>Compared against when the id is unknown, so an unknown id costs the same time as a wrong secret.</summary>
    private static readonly string DecoyHash = Secrets.Hash(Secrets.NewSecret());

    public static TokenVerdict Validate(TokenRecord? record, string presentedSecret, DateTimeOffset now)
    {
        var matches = Secrets.Matches(presentedSecret ?? string.Empty, record?.SecretHash ?? DecoyHash);
        if (record is null || !matches)
            return TokenVerdict.Invalid;
        // Only the holder of the secret learns anything more about the token.
        if (record.RevokedAt is not null)
            return TokenVerdict.Revoked;
        if (now >= record.ExpiresAt)
            return TokenVerdict.Expired;
        if (!record.HasUsesLeft)
            return TokenVerdict.UsedUp;
        return TokenVerdict.Valid;
    }

    /// <summary>The message shown to the person who ran <c>tessera join</c>.</summary>
    public static string Explain(TokenVerdict verdict, string tokenId, TokenRecord? record) => verdict switch
    {
        TokenVerdict.Valid => $"Token {tokenId} is valid.",
        TokenVerdict.Invalid => "Join refused: the token is not valid for this pool (it is unknown here, or was altered or forged). Copy the whole token again, or create one on the coordinator with `tessera token create`.",
        TokenVerdict.Revoked => $"Join refused: token {tokenId} was revoked at {record?.RevokedAt:u}. Create a new one with `tessera token create`.",
        TokenVerdict.Expired => $"Join refused: token {tokenId} expired at {record?.ExpiresAt:u}. Create a new one with `tessera token create --ttl 24h`.",
        TokenVerdict.UsedUp => $"Join refused: token {tokenId} already admitted {record?.Uses} machine(s), as many as it may. Create another with `tessera token create` (`--uses N` for several machines).",
        _ => throw new ArgumentOutOfRangeException(nameof(verdict), verdict, null),
    };
}
