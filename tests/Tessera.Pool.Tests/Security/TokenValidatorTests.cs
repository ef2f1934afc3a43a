using Tessera.Identity;
using Tessera.Pool.Security;

namespace Tessera.Pool.Tests.Security;

public sealed class TokenValidatorTests
{
    private static readonly DateTimeOffset Now = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private const string Secret = "s3cret-value";

    private static TokenRecord Record(DateTimeOffset? revoked = null, TimeSpan? ttl = null, int uses = 0, int? maxUses = 1) =>
        new("tok_1", Secrets.Hash(Secret), Now.AddHours(-1), Now + (ttl ?? TimeSpan.FromHours(1)), revoked, "", uses, maxUses);

    [Fact]
    public void Validate_RightSecretBeforeExpiry_IsValid()
    {
        Assert.Equal(TokenVerdict.Valid, TokenValidator.Validate(Record(), Secret, Now));
    }

    [Fact]
    public void Validate_UnknownIdAndWrongSecret_AreOneVerdict_SoIdsCannotBeProbed()
    {
        Assert.Equal(TokenVerdict.Invalid, TokenValidator.Validate(null, Secret, Now));
        Assert.Equal(TokenVerdict.Invalid, TokenValidator.Validate(Record(), "guess", Now));
        Assert.Equal(TokenVerdict.Invalid, TokenValidator.Validate(Record(ttl: TimeSpan.FromHours(-2), revoked: Now), "guess", Now)); // nothing more leaks
    }

    [Fact]
    public void Validate_AfterItsLastUse_IsUsedUp_UnlessItHasNoLimit()
    {
        Assert.Equal(TokenVerdict.Valid, TokenValidator.Validate(Record(uses: 2, maxUses: 3), Secret, Now));
        Assert.Equal(TokenVerdict.UsedUp, TokenValidator.Validate(Record(uses: 3, maxUses: 3), Secret, Now));
        Assert.Equal(TokenVerdict.Valid, TokenValidator.Validate(Record(uses: 500, maxUses: null), Secret, Now));
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
        var messages = new[] { TokenVerdict.Invalid, TokenVerdict.UsedUp, TokenVerdict.Expired, TokenVerdict.Revoked }
            .Select(v => TokenValidator.Explain(v, "tok_1", Record(revoked: Now)))
            .ToList();

        Assert.Equal(4, messages.Distinct().Count());
        Assert.All(messages, m => Assert.Contains("tessera token create", m));
        Assert.Contains("forged", messages[0]);
        Assert.DoesNotContain("tok_1", messages[0]); // the refusal of an unknown or forged token names nothing
        Assert.Contains("as many as it may", messages[1]);
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

    [Fact]
    public void Throttle_RefusesASourceAfterItsFailures_ForTheRestOfTheWindow_AndNoOtherSource()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now);
        var throttle = new JoinThrottle(clock);
        for (var i = 0; i < JoinThrottle.MaxFailures - 1; i++)
            throttle.Failed("10.0.0.9");
        Assert.Null(throttle.RetryAfter("10.0.0.9"));

        throttle.Failed("10.0.0.9");

        Assert.Equal(JoinThrottle.Window, throttle.RetryAfter("10.0.0.9"));
        Assert.Null(throttle.RetryAfter("10.0.0.10"));
        clock.Advance(TimeSpan.FromSeconds(45));
        Assert.Equal(TimeSpan.FromSeconds(15), throttle.RetryAfter("10.0.0.9"));
        clock.Advance(TimeSpan.FromSeconds(15));
        Assert.Null(throttle.RetryAfter("10.0.0.9"));
    }
}
