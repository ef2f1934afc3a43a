using Microsoft.Extensions.Time.Testing;
using Tessera.Api.Keys;

namespace Tessera.Api.Tests.Unit;

public sealed class ApiKeyStoreTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-keys-");

    private string Database => Path.Combine(_dir.FullName, "pool.db");

    [Fact]
    public async Task CreatedKey_IsValid_StoredOnlyAsHash_AndRevocationRefusesIt()
    {
        using var store = ApiKeyStore.Open(Database);
        var (record, key) = store.Create("ci");
        Assert.StartsWith("tsk_", key);
        Assert.StartsWith("key_", record.Id);
        Assert.NotNull(await store.ValidateAsync(key, default));
        Assert.Null(await store.ValidateAsync(key + "x", default));
        Assert.Null(await store.ValidateAsync(null, default));

        var listed = Assert.Single(store.List());
        Assert.Equal("ci", listed.Name);
        Assert.DoesNotContain(key, listed.Hint);
        Assert.NotNull(listed.LastUsedAt);

        Assert.NotNull(store.Revoke(record.Id));
        Assert.Null(await store.ValidateAsync(key, default));
        Assert.True(store.Get(record.Id)!.IsRevoked);
        Assert.Null(store.Revoke("key_missing"));
    }

    [Fact]
    public async Task Keys_SurviveReopening_AndTheFileNeverHoldsTheKey()
    {
        string key;
        using (var store = ApiKeyStore.Open(Database))
            key = store.Create(null).Key;
        using (var reopened = ApiKeyStore.Open(Database))
            Assert.NotNull(await reopened.ValidateAsync(key, default));
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var bytes = File.ReadAllBytes(Database).Concat(File.Exists(Database + "-wal") ? File.ReadAllBytes(Database + "-wal") : []).ToArray();
        Assert.DoesNotContain(key, System.Text.Encoding.ASCII.GetString(bytes));
    }

    [Fact]
    public async Task Key_WithALifetime_StopsAtItsExpiry_AndCarriesItsScope()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-06T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        using var store = ApiKeyStore.Open(Database, time);
        var (record, key) = store.Create("temp", TimeSpan.FromHours(1), "tiny", 30);
        Assert.Equal(time.GetUtcNow().AddHours(1), record.ExpiresAt);

        var grant = await store.ValidateAsync(key, default);
        Assert.Equal(new ApiKeyGrant(record.Id, "tiny", 30), grant);
        Assert.True(grant!.Allows("tiny"));
        Assert.False(grant.Allows("other"));

        time.Advance(TimeSpan.FromMinutes(59));
        Assert.NotNull(await store.ValidateAsync(key, default));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(await store.ValidateAsync(key, default));
        Assert.True(store.Get(record.Id)!.IsExpired(time.GetUtcNow()));
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(-60, null)]
    [InlineData(60, 0)]
    public void Create_RefusesANonPositiveLifetimeOrRate(int lifetimeSeconds, int? rate)
    {
        using var store = ApiKeyStore.Open(Database);
        Assert.Throws<ArgumentException>(() => store.Create("x", TimeSpan.FromSeconds(lifetimeSeconds), null, rate));
        Assert.Empty(store.List());
    }

    [Fact]
    public void RateLimiter_AllowsABurstOfTheRate_ThenOneRequestPerShare()
    {
        var time = new FakeTimeProvider();
        var limiter = new KeyRateLimiter(time);
        var grant = new ApiKeyGrant("key_a", null, 60);
        for (var i = 0; i < 60; i++)
            Assert.Null(limiter.TryTake(grant));
        var wait = limiter.TryTake(grant);
        Assert.NotNull(wait);
        Assert.InRange(wait!.Value.TotalSeconds, 0.99, 1.01);
        Assert.Null(limiter.TryTake(new ApiKeyGrant("key_b", null, 60))); // keys do not share a bucket
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(limiter.TryTake(grant));
        Assert.NotNull(limiter.TryTake(grant));
        Assert.Null(limiter.TryTake(ApiKeyGrant.Unrestricted));
    }

    [Fact]
    public async Task SingleKeyValidator_AcceptsOnlyItsKey()
    {
        var validator = ApiKeyValidators.Single("tsk_abc");
        Assert.NotNull(await validator.ValidateAsync("tsk_abc", default));
        Assert.Null(await validator.ValidateAsync("tsk_abd", default));
        Assert.Null(await validator.ValidateAsync(null, default));
        Assert.NotNull(await ApiKeyValidators.AllowAll.ValidateAsync(null, default));
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
