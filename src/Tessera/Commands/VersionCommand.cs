using System.CommandLine;

namespace Tessera.Cli.Commands;

internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the version of tessera.");
        command.SetAction(_ =>
        {
            Console.WriteLine(typeof(VersionCommand).Assembly.GetName().Version?.ToString() ?? "0.0.0");
            return 0;
        });
        return command;
    }
}
