using Microsoft.Data.Sqlite;
using Tessera.Storage;

namespace Tessera.Storage.Tests;

public sealed class PoolSchemaTests : IDisposable
{
    private static readonly string[] Tables = ["api_keys", "deployments", "events", "links", "meta", "nodes", "tokens"];
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-schema-");

    private string DbPath => Path.Combine(_dir.FullName, "pool.db");

    [Fact]
    public void Open_ANewFile_CreatesEveryTable_AtTheCurrentVersion_InWalMode()
    {
        using var database = PoolSchema.Open(DbPath);

        Assert.Equal(PoolSchema.Version, PoolSchema.VersionOf(database));
        Assert.Equal(Tables, TableNames(database));
        Assert.Equal("wal", database.JournalMode());
        Assert.Equal(2L, database.Scalar("PRAGMA synchronous;")); // FULL: a commit is on disk when it returns
    }

    [Fact]
    public void Open_AFileOfTheFirstReleases_KeepsItsRows_AndRecordsTheVersionInUserVersion()
    {
        // What releases before user_version wrote: the tables (fewer than today) and meta.schema_version = 1.
        using (var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE deployments (id TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL,
                    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
                INSERT INTO meta VALUES ('schema_version', '1'), ('pool_id', 'pool_old');
                INSERT INTO deployments VALUES ('dep_1', 'm', '{}', 'ready', 1, 1);
                """;
            command.ExecuteNonQuery();
        }

        using var database = PoolSchema.Open(DbPath);

        Assert.Equal(PoolSchema.Version, PoolSchema.VersionOf(database));
        Assert.Equal(Tables, TableNames(database));
        Assert.Equal("pool_old", database.Scalar("SELECT value FROM meta WHERE key = 'pool_id'"));
        Assert.Null(database.Scalar("SELECT value FROM meta WHERE key = 'schema_version'"));
        Assert.Equal(1L, database.Scalar("SELECT COUNT(*) FROM deployments"));
    }

    [Fact]
    public void Open_TwiceInARow_ChangesNothing()
    {
        using (var first = PoolSchema.Open(DbPath))
            first.Execute("INSERT INTO meta VALUES ('k', 'v')");

        using var second = PoolSchema.Open(DbPath);

        Assert.Equal(PoolSchema.Version, PoolSchema.VersionOf(second));
        Assert.Equal("v", second.Scalar("SELECT value FROM meta WHERE key = 'k'"));
    }

    [Fact]
    public void Open_AFileFromANewerRelease_IsRefusedWithAClearMessage_AndLeftAsItWas()
    {
        using (var database = SqliteDatabase.Open(DbPath))
            database.Execute($"PRAGMA user_version = {PoolSchema.Version + 1};");

        var error = Assert.Throws<SchemaVersionException>(() => PoolSchema.Open(DbPath));

        Assert.Contains("written by a newer release", error.Message);
        Assert.Equal(PoolSchema.Version + 1, error.Found);
        using var reopened = SqliteDatabase.Open(DbPath);
        Assert.Equal(PoolSchema.Version + 1, PoolSchema.VersionOf(reopened));
        Assert.Empty(TableNames(reopened));
    }

    private static List<string> TableNames(SqliteDatabase database) =>
        database.Query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name", r => r.GetString(0));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Delete(true);
    }
}
