namespace Tessera.Api.Keys;

/// <summary>An API key as the store keeps it: never the key itself, only its hash and a hint.</summary>
/// <param name="ExpiresAt">When it stops working; null: never.</param>
/// <param name="Model">The one model (deployment) it may use; null: every one.</param>
/// <param name="RequestsPerMinute">Requests it may make per minute; null: no limit.</param>
public sealed record ApiKeyRecord(string Id, string Name, string Hint, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, DateTimeOffset? LastUsedAt,
    DateTimeOffset? ExpiresAt = null, string? Model = null, int? RequestsPerMinute = null)
{
    public bool IsRevoked => RevokedAt is not null;

    public bool IsExpired(DateTimeOffset now) => ExpiresAt is { } at && now >= at;
}
