using System.CommandLine;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera pool bench-heartbeats</c>: many simulated agents against one coordinator.</summary>
internal static class PoolBenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench-heartbeats", "Benchmark: simulated agents heartbeating against a coordinator.");
        command.SetAction(_ => 0);
        return command;
    }
}
