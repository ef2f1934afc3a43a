using System.Globalization;
using System.Text.Json;
using Tessera.Storage;

namespace Tessera.Deploy;

/// <summary>
/// Deployments in the pool database's <c>deployments</c> table (<see cref="PoolSchema"/>): the spec column holds the
/// request, the resolved model and the plan as JSON, so a restarted coordinator brings every deployment back.
/// </summary>
internal sealed class DeploymentStore(SqliteDatabase database) : IDeploymentStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerOptions.Web);

    public void Insert(StoredDeployment deployment, string state, DateTimeOffset now) =>
        database.Execute("INSERT INTO deployments (id, name, spec, state, created_at, updated_at) VALUES ($id, $name, $spec, $state, $at, $at)",
            ("$id", deployment.Id), ("$name", deployment.Name), ("$spec", JsonSerializer.Serialize(deployment, Json)), ("$state", state),
            ("$at", SqliteTime.ToMs(now)));

    public void SetState(string id, string state, DateTimeOffset now) =>
        database.Execute("UPDATE deployments SET state = $state, updated_at = $at WHERE id = $id AND state <> $state",
            ("$id", id), ("$state", state), ("$at", SqliteTime.ToMs(now)));

    /// <summary>Replaces the stored plan (after a re-plan): the spec column, keeping the state.</summary>
    public void Update(StoredDeployment deployment, DateTimeOffset now) =>
        database.Execute("UPDATE deployments SET spec = $spec, updated_at = $at WHERE id = $id",
            ("$id", deployment.Id), ("$spec", JsonSerializer.Serialize(deployment, Json)), ("$at", SqliteTime.ToMs(now)));

    public bool Delete(string id) => database.Execute("DELETE FROM deployments WHERE id = $id", ("$id", id)) > 0;

    /// <summary>Every deployment this version can read; a row it cannot is left alone (and not served).</summary>
    public IReadOnlyList<StoredDeployment> List() =>
        database.Query("SELECT spec FROM deployments ORDER BY created_at, id", r => Parse(r.GetString(0))).OfType<StoredDeployment>().ToList();

    public int Count() => Convert.ToInt32(database.Scalar("SELECT COUNT(*) FROM deployments"), CultureInfo.InvariantCulture);

    private static StoredDeployment? Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<StoredDeployment>(json, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
