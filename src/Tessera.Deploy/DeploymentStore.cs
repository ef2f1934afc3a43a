using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Tessera.Deploy;

/// <summary>
/// Deployments in the pool database's <c>deployments</c> table (created by the pool store), through a connection of
/// its own: the spec column holds the request, the resolved model and the plan as JSON, so a restarted coordinator
/// brings every deployment back.
/// </summary>
internal sealed class DeploymentStore : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerOptions.Web);
    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    private DeploymentStore(SqliteConnection connection)
    {
        _connection = connection;
    }

    public static DeploymentStore Open(string databasePath)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        connection.Open();
        try
        {
            var store = new DeploymentStore(connection);
            store.Execute("PRAGMA busy_timeout=5000;");
            store.Execute("""
                CREATE TABLE IF NOT EXISTS deployments (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL,
                    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
                """);
            return store;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public void Insert(StoredDeployment deployment, string state, DateTimeOffset now)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO deployments (id, name, spec, state, created_at, updated_at) VALUES ($id, $name, $spec, $state, $at, $at)";
            command.Parameters.AddWithValue("$id", deployment.Id);
            command.Parameters.AddWithValue("$name", deployment.Name);
            command.Parameters.AddWithValue("$spec", JsonSerializer.Serialize(deployment, Json));
            command.Parameters.AddWithValue("$state", state);
            command.Parameters.AddWithValue("$at", now.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }
    }

    public void SetState(string id, string state, DateTimeOffset now)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "UPDATE deployments SET state = $state, updated_at = $at WHERE id = $id AND state <> $state";
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$state", state);
            command.Parameters.AddWithValue("$at", now.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Replaces the stored plan (after a re-plan): the spec column, keeping the state.</summary>
    public void Update(StoredDeployment deployment, DateTimeOffset now)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "UPDATE deployments SET spec = $spec, updated_at = $at WHERE id = $id";
            command.Parameters.AddWithValue("$id", deployment.Id);
            command.Parameters.AddWithValue("$spec", JsonSerializer.Serialize(deployment, Json));
            command.Parameters.AddWithValue("$at", now.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }
    }

    public bool Delete(string id)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "DELETE FROM deployments WHERE id = $id";
            command.Parameters.AddWithValue("$id", id);
            return command.ExecuteNonQuery() > 0;
        }
    }

    public IReadOnlyList<StoredDeployment> List()
    {
        var result = new List<StoredDeployment>();
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT spec FROM deployments ORDER BY created_at, id";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                try
                {
                    if (JsonSerializer.Deserialize<StoredDeployment>(reader.GetString(0), Json) is { } d)
                        result.Add(d);
                }
                catch (JsonException)
                {
                    // A row this version cannot read is left alone (and not served).
                }
            }
        }
        return result;
    }

    public int Count()
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM deployments";
            return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    private void Execute(string sql)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }
    }

    public void Dispose() => _connection.Dispose();
}
