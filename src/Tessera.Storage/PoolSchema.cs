using System.Globalization;

namespace Tessera.Storage;

/// <summary>
/// The one owner of <c>pool.db</c>'s schema: numbered migrations, applied in order inside a transaction, the version
/// reached kept in <c>PRAGMA user_version</c>. A file written by a newer Tessera (a higher version) is refused
/// rather than read wrongly. A change to the schema is a new migration at the end of the list, never an edit of one.
/// </summary>
public static class PoolSchema
{
    /// <summary>Migration n (1-based) brings the file from version n-1 to n.</summary>
    private static readonly string[] Migrations =
    [
        // 1: the tables of the first releases. IF NOT EXISTS: files made before user_version was used have them
        // (and a meta row 'schema_version', which this replaces).
        """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS tokens (
            id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL, revoked_at INTEGER, description TEXT NOT NULL DEFAULT '',
            uses INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS nodes (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, drained INTEGER NOT NULL DEFAULT 0,
            address TEXT NOT NULL DEFAULT '', joined_at INTEGER NOT NULL, last_heartbeat INTEGER,
            cert_sha256 TEXT NOT NULL, hardware BLOB NOT NULL, metrics BLOB, token_id TEXT);
        CREATE INDEX IF NOT EXISTS nodes_name ON nodes(name);
        CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL,
            node_id TEXT, from_state TEXT, to_state TEXT, message TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS events_node ON events(node_id, id);
        CREATE TABLE IF NOT EXISTS links (
            from_node TEXT NOT NULL, to_node TEXT NOT NULL, rtt_ms REAL NOT NULL, jitter_p99_ms REAL NOT NULL,
            bandwidth_mbps REAL NOT NULL, measured_at INTEGER NOT NULL, PRIMARY KEY (from_node, to_node));
        CREATE TABLE IF NOT EXISTS deployments (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL,
            created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS api_keys (
            id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', key_hash TEXT NOT NULL UNIQUE, hint TEXT NOT NULL,
            created_at INTEGER NOT NULL, revoked_at INTEGER, last_used_at INTEGER);
        DELETE FROM meta WHERE key = 'schema_version';
        """,

        // 2: join tokens with a use limit and labels for the nodes they admit (tokens of earlier releases keep no
        // limit: max_uses NULL); nodes carry those labels. API keys may expire, be limited to one model and to a
        // request rate (keys of earlier releases: none of these).
        """
        ALTER TABLE tokens ADD COLUMN max_uses INTEGER;
        ALTER TABLE tokens ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE nodes ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
        ALTER TABLE api_keys ADD COLUMN model TEXT;
        ALTER TABLE api_keys ADD COLUMN requests_per_minute INTEGER;
        """,

        // 3: link measurements as the probes make them: the p99 round trip, loss, how many echoes, and why a link
        // could not be measured (rtt_ms is the median, jitter_p99_ms Tessera's jitter).
        """
        ALTER TABLE links ADD COLUMN rtt_p99_ms REAL NOT NULL DEFAULT 0;
        ALTER TABLE links ADD COLUMN loss REAL NOT NULL DEFAULT 0;
        ALTER TABLE links ADD COLUMN samples INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE links ADD COLUMN error TEXT;
        """,
    ];

    /// <summary>The version this build writes.</summary>
    public static int Version => Migrations.Length;

    /// <summary>Opens the pool's database file and brings its schema to <see cref="Version"/>.</summary>
    /// <exception cref="SchemaVersionException">The file was written by a newer version of Tessera.</exception>
    public static SqliteDatabase Open(string path)
    {
        var database = SqliteDatabase.Open(path);
        try
        {
            Migrate(database);
            return database;
        }
        catch
        {
            database.Dispose();
            throw;
        }
    }

    /// <summary>The version of the file's schema.</summary>
    public static int VersionOf(SqliteDatabase database) =>
        Convert.ToInt32(database.Scalar("PRAGMA user_version;"), CultureInfo.InvariantCulture);

    internal static void Migrate(SqliteDatabase database, int? upTo = null)
    {
        var target = upTo ?? Migrations.Length;
        lock (database.Gate)
        {
            var current = VersionOf(database);
            if (current > Migrations.Length)
                throw new SchemaVersionException(database.Path, current, Migrations.Length);
            for (var version = current + 1; version <= target; version++)
            {
                using var transaction = database.BeginTransaction();
                using (var command = database.Command(Migrations[version - 1]))
                {
                    command.Transaction = transaction;
                    command.ExecuteNonQuery();
                }
                // PRAGMA takes no parameters; the version is a number this code chose.
                using (var command = database.Command(string.Create(CultureInfo.InvariantCulture, $"PRAGMA user_version = {version};")))
                {
                    command.Transaction = transaction;
                    command.ExecuteNonQuery();
                }
                transaction.Commit();
            }
        }
    }
}
