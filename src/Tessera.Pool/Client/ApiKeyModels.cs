namespace Tessera.Pool.Client;

/// <summary>An API key as /api/keys lists it: never the key itself.</summary>
public sealed record ApiKeyView(string Id, string Name, string Hint, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, DateTimeOffset? LastUsedAt, string Status);

public sealed record CreateApiKeyRequest(string? Name);

/// <summary>A key just made: the only time its text is shown.</summary>
public sealed record CreatedApiKeyView(string Id, string Name, string Key, DateTimeOffset CreatedAt);
