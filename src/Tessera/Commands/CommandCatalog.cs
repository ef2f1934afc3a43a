using System.CommandLine;
using Tessera.Cli.Commands.Chaos;

namespace Tessera.Cli.Commands;

/// <summary>Every top-level command group of the CLI; each group lives in its own file.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return DemoCommand.Create();
        yield return GenerateCommand.Create();
        yield return ChatCommand.Create();
        yield return ServeCommand.Create();
        yield return PlanCommand.Create();
        yield return DeployCommand.Create();
        yield return DeployListCommand.Create();
        yield return DeployUndeployCommand.Create();
        yield return PoolCommand.Create();
        yield return JoinCommand.Create();
        yield return NodesCommand.Create();
        yield return TopCommand.Create();
        yield return LinksCommand.Create();
        yield return NodeCommand.Create();
        yield return PoolEventsCommand.Create();
        yield return TokenCommand.Create();
        yield return KeyCommands.Create();
        yield return ModelCommands.Create();
        yield return ModelsCommand.Create();
        yield return BenchCommand.Create();
        yield return BatchCommand.Create();
        yield return StageCommand.Create();
        yield return GpuCommand.Create();
        yield return ChaosCommand.Create();
        yield return TrainCommand.Create();
        yield return ServiceCommand.Create();
        yield return VersionCommand.Create();
    }
}
