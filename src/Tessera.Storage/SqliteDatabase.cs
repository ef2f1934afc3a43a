using Microsoft.Data.Sqlite;

namespace Tessera.Storage;

/// <summary>
/// One connection to a SQLite file (WAL, synchronous FULL, a busy timeout, foreign keys), serialised by a lock:
/// the coordinator's write rate (state changes, batched heartbeats) is far below what SQLite sustains, and one
/// connection shared by every store of the file keeps their writes in one order. Callers hold <see cref="Gate"/>
/// around <see cref="Command"/> and transactions; <see cref="Execute"/> and <see cref="Query{T}"/> take it themselves.
/// </summary>
public sealed class SqliteDatabase : IDisposable
{
    private readonly SqliteConnection _connection;

    private SqliteDatabase(SqliteConnection connection, string path)
    {
        _connection = connection;
        Path = path;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>Held around every use of the connection.</summary>
    public Lock Gate { get; } = new();

    /// <summary>Opens (creating) the file with the pool's settings. Its schema is <see cref="PoolSchema"/>'s business.</summary>
    public static SqliteDatabase Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        connection.Open();
        var database = new SqliteDatabase(connection, path);
        try
        {
            database.Execute("PRAGMA journal_mode=WAL;");
            // FULL: a commit is on disk when it returns (a revocation, a removal, a new key must survive a power cut).
            database.Execute("PRAGMA synchronous=FULL;");
            database.Execute("PRAGMA busy_timeout=5000;");
            database.Execute("PRAGMA foreign_keys=ON;");
            return database;
        }
        catch
        {
            database.Dispose();
            throw;
        }
    }

    /// <summary>A command on the connection with <c>$name</c> parameters; the caller holds <see cref="Gate"/>.</summary>
    public SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    /// <summary>Starts a transaction; the caller holds <see cref="Gate"/> until it is committed or disposed.</summary>
    public SqliteTransaction BeginTransaction() => _connection.BeginTransaction();

    /// <summary>Runs a statement (or several) and returns the rows changed.</summary>
    public int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        lock (Gate)
        {
            using var command = Command(sql, parameters);
            return command.ExecuteNonQuery();
        }
    }

    /// <summary>The first column of the first row, or null.</summary>
    public object? Scalar(string sql, params (string Name, object? Value)[] parameters)
    {
        lock (Gate)
        {
            using var command = Command(sql, parameters);
            var value = command.ExecuteScalar();
            return value is DBNull ? null : value;
        }
    }

    /// <summary>Every row, read with <paramref name="read"/>.</summary>
    public List<T> Query<T>(string sql, Func<SqliteDataReader, T> read, params (string Name, object? Value)[] parameters)
    {
        lock (Gate)
        {
            using var command = Command(sql, parameters);
            using var reader = command.ExecuteReader();
            var rows = new List<T>();
            while (reader.Read())
                rows.Add(read(reader));
            return rows;
        }
    }

    /// <summary>The first row, read with <paramref name="read"/>, or null when there is none.</summary>
    public T? QueryFirst<T>(string sql, Func<SqliteDataReader, T> read, params (string Name, object? Value)[] parameters) where T : class
    {
        lock (Gate)
        {
            using var command = Command(sql, parameters);
            using var reader = command.ExecuteReader();
            return reader.Read() ? read(reader) : null;
        }
    }

    /// <summary>The journal mode in force ("wal").</summary>
    public string JournalMode() => (string)Scalar("PRAGMA journal_mode;")!;

    public void Dispose()
    {
        lock (Gate)
            _connection.Dispose();
    }
}
