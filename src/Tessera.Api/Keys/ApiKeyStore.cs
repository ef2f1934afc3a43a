using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Tessera.Storage;

namespace Tessera.Api.Keys;

/// <summary>
/// API keys in the pool database's <c>api_keys</c> table (<see cref="PoolSchema"/>). Keys are stored hashed;
/// validating one is a lookup by hash, and a revoked key is refused from the next request on.
/// </summary>
public sealed class ApiKeyStore : IApiKeyValidator, IDisposable
{
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);
    private readonly SqliteDatabase _database;
    private readonly bool _ownsDatabase;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastUsedWritten = new(StringComparer.Ordinal);

    /// <summary>A store over the pool's <paramref name="database"/>, which the caller keeps and disposes.</summary>
    public ApiKeyStore(SqliteDatabase database, TimeProvider? time = null)
        : this(database, ownsDatabase: false, time)
    {
    }

    private ApiKeyStore(SqliteDatabase database, bool ownsDatabase, TimeProvider? time)
    {
        _database = database;
        _ownsDatabase = ownsDatabase;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Opens the pool database at <paramref name="databasePath"/> (bringing its schema up to date) for this store alone.</summary>
    public static ApiKeyStore Open(string databasePath, TimeProvider? time = null) => new(PoolSchema.Open(databasePath), ownsDatabase: true, time);

    /// <summary>Creates a key; the returned key text is shown once and never stored.</summary>
    public (ApiKeyRecord Record, string Key) Create(string? name)
    {
        var key = ApiKeyFormat.NewKey();
        var record = new ApiKeyRecord(ApiKeyFormat.NewId(), name?.Trim() ?? string.Empty, ApiKeyFormat.Hint(key), _time.GetUtcNow(), null, null);
        lock (_database.Gate)
        {
            using var command = Command("INSERT INTO api_keys(id, name, key_hash, hint, created_at) VALUES ($id, $n, $h, $hint, $c)",
                ("$id", record.Id), ("$n", record.Name), ("$h", ApiKeyFormat.Hash(key)), ("$hint", record.Hint), ("$c", Ms(record.CreatedAt)));
            command.ExecuteNonQuery();
        }
        return (record with { CreatedAt = FromMs(Ms(record.CreatedAt)) }, key);
    }

    public IReadOnlyList<ApiKeyRecord> List() =>
        _database.Query(Select + " ORDER BY created_at, id", Read);

    public ApiKeyRecord? Get(string id) =>
        _database.QueryFirst(Select + " WHERE id = $id", Read, ("$id", id));

    /// <summary>Revokes a key; null when no such key. Revoking twice keeps the first instant.</summary>
    public ApiKeyRecord? Revoke(string id)
    {
        lock (_database.Gate)
        {
            using var command = Command("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $at) WHERE id = $id", ("$id", id), ("$at", Ms(_time.GetUtcNow())));
            if (command.ExecuteNonQuery() == 0)
                return null;
        }
        return Get(id);
    }

    /// <summary>True for a key that exists and is not revoked. Records when it was last used (to the minute).</summary>
    public ValueTask<bool> ValidateAsync(string? apiKey, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(apiKey) || !apiKey.StartsWith(ApiKeyFormat.Prefix, StringComparison.Ordinal) || apiKey.Length > 200)
            return ValueTask.FromResult(false);
        var hash = ApiKeyFormat.Hash(apiKey);
        string? id;
        lock (_database.Gate)
        {
            using var command = Command("SELECT id FROM api_keys WHERE key_hash = $h AND revoked_at IS NULL", ("$h", hash));
            id = command.ExecuteScalar() as string;
        }
        if (id is null)
            return ValueTask.FromResult(false);
        var now = _time.GetUtcNow();
        if (!_lastUsedWritten.TryGetValue(id, out var written) || now - written >= LastUsedResolution)
        {
            _lastUsedWritten[id] = now;
            lock (_database.Gate)
            {
                using var command = Command("UPDATE api_keys SET last_used_at = $at WHERE id = $id", ("$id", id), ("$at", Ms(now)));
                command.ExecuteNonQuery();
            }
        }
        return ValueTask.FromResult(true);
    }

    private const string Select = "SELECT id, name, hint, created_at, revoked_at, last_used_at FROM api_keys";

    private static ApiKeyRecord Read(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), FromMs(r.GetInt64(3)),
        r.IsDBNull(4) ? null : FromMs(r.GetInt64(4)), r.IsDBNull(5) ? null : FromMs(r.GetInt64(5)));

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters) => _database.Command(sql, parameters);

    private static long Ms(DateTimeOffset at) => SqliteTime.ToMs(at);

    private static DateTimeOffset FromMs(long ms) => SqliteTime.FromMs(ms);

    public void Dispose()
    {
        if (_ownsDatabase)
            _database.Dispose();
    }
}
