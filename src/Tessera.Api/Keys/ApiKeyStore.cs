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

    /// <summary>
    /// Creates a key, valid for <paramref name="lifetime"/> (null: until revoked), for <paramref name="model"/> only
    /// (null: every model), at most <paramref name="requestsPerMinute"/> requests a minute (null: no limit). The
    /// returned key text is shown once and never stored.
    /// </summary>
    public (ApiKeyRecord Record, string Key) Create(string? name, TimeSpan? lifetime = null, string? model = null, int? requestsPerMinute = null)
    {
        if (lifetime is { } l && l <= TimeSpan.Zero)
            throw new ArgumentException("A key's lifetime must be positive, e.g. 30d.", nameof(lifetime));
        if (requestsPerMinute is < 1)
            throw new ArgumentException($"A key's request rate must be at least 1 a minute, got {requestsPerMinute}.", nameof(requestsPerMinute));
        var key = ApiKeyFormat.NewKey();
        var now = FromMs(Ms(_time.GetUtcNow()));
        var record = new ApiKeyRecord(ApiKeyFormat.NewId(), name?.Trim() ?? string.Empty, ApiKeyFormat.Hint(key), now, null, null,
            lifetime is { } ttl ? now + ttl : null, string.IsNullOrWhiteSpace(model) ? null : model.Trim(), requestsPerMinute);
        _database.Execute("INSERT INTO api_keys(id, name, key_hash, hint, created_at, expires_at, model, requests_per_minute) VALUES ($id, $n, $h, $hint, $c, $e, $m, $r)",
            ("$id", record.Id), ("$n", record.Name), ("$h", ApiKeyFormat.Hash(key)), ("$hint", record.Hint), ("$c", Ms(record.CreatedAt)),
            ("$e", record.ExpiresAt is { } e ? Ms(e) : null), ("$m", record.Model), ("$r", record.RequestsPerMinute));
        return (record, key);
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

    /// <summary>
    /// What a key that exists, is not revoked and has not expired may do; null otherwise. Records when it was last
    /// used (to the minute).
    /// </summary>
    public ValueTask<ApiKeyGrant?> ValidateAsync(string? apiKey, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(apiKey) || !apiKey.StartsWith(ApiKeyFormat.Prefix, StringComparison.Ordinal) || apiKey.Length > 200)
            return ValueTask.FromResult<ApiKeyGrant?>(null);
        var record = _database.QueryFirst(Select + " WHERE key_hash = $h AND revoked_at IS NULL", Read, ("$h", ApiKeyFormat.Hash(apiKey)));
        var now = _time.GetUtcNow();
        if (record is null || record.IsExpired(now))
            return ValueTask.FromResult<ApiKeyGrant?>(null);
        var id = record.Id;
        if (!_lastUsedWritten.TryGetValue(id, out var written) || now - written >= LastUsedResolution)
        {
            _lastUsedWritten[id] = now;
            lock (_database.Gate)
            {
                using var command = Command("UPDATE api_keys SET last_used_at = $at WHERE id = $id", ("$id", id), ("$at", Ms(now)));
                command.ExecuteNonQuery();
            }
        }
        return ValueTask.FromResult<ApiKeyGrant?>(new ApiKeyGrant(id, record.Model, record.RequestsPerMinute));
    }

    private const string Select = "SELECT id, name, hint, created_at, revoked_at, last_used_at, expires_at, model, requests_per_minute FROM api_keys";

    private static ApiKeyRecord Read(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), FromMs(r.GetInt64(3)),
        r.IsDBNull(4) ? null : FromMs(r.GetInt64(4)), r.IsDBNull(5) ? null : FromMs(r.GetInt64(5)),
        r.IsDBNull(6) ? null : FromMs(r.GetInt64(6)), r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetInt32(8));

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters) => _database.Command(sql, parameters);

    private static long Ms(DateTimeOffset at) => SqliteTime.ToMs(at);

    private static DateTimeOffset FromMs(long ms) => SqliteTime.FromMs(ms);

    public void Dispose()
    {
        if (_ownsDatabase)
            _database.Dispose();
    }
}
