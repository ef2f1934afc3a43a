namespace Tessera.Cli.Install;

/// <summary>What a machine's service runs: the pool's coordinator (<c>pool start</c>) or an agent (<c>join</c>).</summary>
internal enum ServiceRole
{
    Coordinator,
    Agent,
}
