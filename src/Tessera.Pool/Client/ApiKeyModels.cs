namespace Tessera.Pool.Client;

/// <summary>An API key as /api/keys lists it: never the key itself.</summary>
/// <param name="Status">active, revoked or expired.</param>
/// <param name="Model">The one model it may use; null: every model.</param>
/// <param name="RequestsPerMinute">Its request rate limit; null: none.</param>
public sealed record ApiKeyView(string Id, string Name, string Hint, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, DateTimeOffset? LastUsedAt, string Status,
    DateTimeOffset? ExpiresAt = null, string? Model = null, int? RequestsPerMinute = null);

/// <param name="Ttl">How long the key is valid (90s, 30m, 24h, 7d); null: until revoked.</param>
/// <param name="Model">The one model it may use; null: every model.</param>
/// <param name="RequestsPerMinute">Requests a minute it may make; null: no limit.</param>
public sealed record CreateApiKeyRequest(string? Name, string? Ttl = null, string? Model = null, int? RequestsPerMinute = null);

/// <summary>A key just made: the only time its text is shown.</summary>
public sealed record CreatedApiKeyView(string Id, string Name, string Key, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt = null, string? Model = null, int? RequestsPerMinute = null);
