namespace Tessera.Pool;

/// <summary>
/// Where a machine keeps the pool's files. The coordinator's: pool.db (SQLite), ca.crt, ca.key,
/// admin.key, metrics.key, coordinator.json. An agent's, under agent/: agent.json, node.crt, node.key, ca.crt.
/// Defaults to $TESSERA_HOME, else ~/.tessera.
/// </summary>
public sealed class PoolDataDirectory
{
    public PoolDataDirectory(string? root)
    {
        Root = Path.GetFullPath(string.IsNullOrWhiteSpace(root) ? DefaultRoot() : root);
    }

    public string Root { get; }

    public string Database => Path.Combine(Root, "pool.db");
    public string CaCertificate => Path.Combine(Root, "ca.crt");
    public string CaKey => Path.Combine(Root, "ca.key");
    public string AdminKey => Path.Combine(Root, "admin.key");

    /// <summary>The key Prometheus sends to read the coordinator's /metrics (and nothing else).</summary>
    public string MetricsKey => Path.Combine(Root, "metrics.key");
    public string CoordinatorInfo => Path.Combine(Root, "coordinator.json");
    public string AgentDirectory => Path.Combine(Root, "agent");

    public void EnsureExists()
    {
        Directory.CreateDirectory(Root);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public static string DefaultRoot()
    {
        var home = Environment.GetEnvironmentVariable("TESSERA_HOME");
        if (!string.IsNullOrWhiteSpace(home))
            return home;
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".tessera");
    }

    public override string ToString() => Root;
}
