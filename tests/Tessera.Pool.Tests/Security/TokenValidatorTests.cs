using Tessera.Identity;
using Tessera.Pool.Security;

namespace Tessera.Pool.Tests.Security;

public sealed class TokenValidatorTests
{
    private static readonly DateTimeOffset Now = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private const string Secret = "s3cret-value";

    private static TokenRecord Record(DateTimeOffset? revoked = null, TimeSpan? ttl = null) =>
        new("tok_1", Secrets.Hash(Secret), Now.AddHours(-1), Now + (ttl ?? TimeSpan.FromHours(1)), revoked, "", 0);

    [Fact]
    public void Validate_RightSecretBeforeExpiry_IsValid()
    {
        Assert.Equal(TokenVerdict.Valid, TokenValidator.Validate(Record(), Secret, Now));
    }

    [Fact]
    public void Validate_UnknownId_IsUnknown()
    {
        Assert.Equal(TokenVerdict.Unknown, TokenValidator.Validate(null, Secret, Now));
    }

    [Fact]
    public void Validate_WrongSecret_IsForgedEvenWhenAlsoExpired()
    {
        Assert.Equal(TokenVerdict.Forged, TokenValidator.Validate(Record(ttl: TimeSpan.FromHours(-2)), "guess", Now));
    }

    [Fact]
    public void Validate_AfterExpiry_IsExpired()
    {
        Assert.Equal(TokenVerdict.Expired, TokenValidator.Validate(Record(ttl: TimeSpan.FromSeconds(-1)), Secret, Now));
    }

    [Fact]
    public void Validate_Revoked_IsRevoked()
    {
        Assert.Equal(TokenVerdict.Revoked, TokenValidator.Validate(Record(revoked: Now.AddMinutes(-1)), Secret, Now));
    }

    [Fact]
    public void Explain_GivesADistinctActionableMessagePerVerdict()
    {
        var messages = new[] { TokenVerdict.Unknown, TokenVerdict.Forged, TokenVerdict.Expired, TokenVerdict.Revoked }
            .Select(v => TokenValidator.Explain(v, "tok_1", Record(revoked: Now)))
            .ToList();

        Assert.Equal(4, messages.Distinct().Count());
        Assert.All(messages, m => Assert.Contains("tessera token create", m));
        Assert.Contains("forged", messages[1]);
        Assert.Contains("expired", messages[2]);
        Assert.Contains("revoked", messages[3]);
    }

    [Fact]
    public void Secrets_AreStoredHashedAndMatchOnlyThemselves()
    {
        var secret = Secrets.NewSecret();
        var hash = Secrets.Hash(secret);

        Assert.DoesNotContain(secret, hash);
        Assert.True(Secrets.Matches(secret, hash));
        Assert.False(Secrets.Matches(secret + "x", hash));
    }
}
