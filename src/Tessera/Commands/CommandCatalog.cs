using System.CommandLine;

namespace Tessera.Cli.Commands;

/// <summary>Every top-level command group of the CLI; each group lives in its own file.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return GenerateCommand.Create();
        yield return ModelCommands.Create();
        yield return BenchCommand.Create();
        yield return VersionCommand.Create();
        yield return PoolCommand.Create();
        yield return JoinCommand.Create();
        yield return TokenCommand.Create();
        yield return NodesCommand.Create();
        yield return NodeCommand.Create();
        yield return PoolEventsCommand.Create();
        yield return StageCommand.Create();
    }
}
