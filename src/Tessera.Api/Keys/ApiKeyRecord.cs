namespace Tessera.Api.Keys;

/// <summary>An API key as the store keeps it: never the key itself, only its hash and a hint.</summary>
public sealed record ApiKeyRecord(string Id, string Name, string Hint, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, DateTimeOffset? LastUsedAt)
{
    public bool IsRevoked => RevokedAt is not null;
}
