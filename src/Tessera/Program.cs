using System.CommandLine;
using Tessera.Cli.Commands;

namespace Tessera.Cli;

/// <summary>Entry point of the <c>tessera</c> executable: composes the command groups.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("Tessera: turn the machines you own into one AI cluster.");
        foreach (var command in CommandCatalog.All())
            root.Subcommands.Add(command);
        return root.Parse(args).Invoke();
    }
}
