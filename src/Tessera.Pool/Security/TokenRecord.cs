namespace Tessera.Pool.Security;

/// <summary>A join token as the coordinator stores it (the secret only as a hash).</summary>
/// <param name="Uses">Machines it has admitted.</param>
/// <param name="MaxUses">Machines it may admit; null: no limit (tokens of earlier releases).</param>
/// <param name="Labels">Labels given to every node it admits.</param>
public sealed record TokenRecord(
    string Id,
    string SecretHash,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset? RevokedAt,
    string Description,
    int Uses,
    int? MaxUses = 1,
    IReadOnlyDictionary<string, string>? Labels = null)
{
    /// <summary>Whether it may admit another machine.</summary>
    public bool HasUsesLeft => MaxUses is not { } max || Uses < max;
}
