namespace Tessera.Deploy;

/// <summary>Where deployments are kept so that a restarted coordinator brings them back (the pool database, in a coordinator).</summary>
internal interface IDeploymentStore
{
    void Insert(StoredDeployment deployment, string state, DateTimeOffset now);

    void SetState(string id, string state, DateTimeOffset now);

    /// <summary>Replaces the stored plan, keeping the state.</summary>
    void Update(StoredDeployment deployment, DateTimeOffset now);

    bool Delete(string id);

    IReadOnlyList<StoredDeployment> List();
}
