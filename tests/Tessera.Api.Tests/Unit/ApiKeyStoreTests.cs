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
        Assert.True(await store.ValidateAsync(key, default));
        Assert.False(await store.ValidateAsync(key + "x", default));
        Assert.False(await store.ValidateAsync(null, default));

        var listed = Assert.Single(store.List());
        Assert.Equal("ci", listed.Name);
        Assert.DoesNotContain(key, listed.Hint);
        Assert.NotNull(listed.LastUsedAt);

        Assert.NotNull(store.Revoke(record.Id));
        Assert.False(await store.ValidateAsync(key, default));
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
            Assert.True(await reopened.ValidateAsync(key, default));
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var bytes = File.ReadAllBytes(Database).Concat(File.Exists(Database + "-wal") ? File.ReadAllBytes(Database + "-wal") : []).ToArray();
        Assert.DoesNotContain(key, System.Text.Encoding.ASCII.GetString(bytes));
    }

    [Fact]
    public async Task SingleKeyValidator_AcceptsOnlyItsKey()
    {
        var validator = ApiKeyValidators.Single("tsk_abc");
        Assert.True(await validator.ValidateAsync("tsk_abc", default));
        Assert.False(await validator.ValidateAsync("tsk_abd", default));
        Assert.False(await validator.ValidateAsync(null, default));
        Assert.True(await ApiKeyValidators.AllowAll.ValidateAsync(null, default));
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
