namespace Tessera.Pool.Security;

/// <summary>A join token as the coordinator stores it (the secret only as a hash).</summary>
public sealed record TokenRecord(
    string Id,
    string SecretHash,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset? RevokedAt,
    string Description,
    int Uses);
