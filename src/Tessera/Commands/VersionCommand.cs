using System.CommandLine;
using Tessera.Pool;

namespace Tessera.Cli.Commands;

internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the version of tessera, the commit it was built from, its .NET runtime and platform.");
        command.SetAction(_ =>
        {
            Console.WriteLine(BuildVersion.Describe());
            return 0;
        });
        return command;
    }
}
