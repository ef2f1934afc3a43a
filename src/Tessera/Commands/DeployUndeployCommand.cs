using System.CommandLine;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera undeploy NAME</c>: stop a deployment's stages on every agent and stop serving it.</summary>
internal static class DeployUndeployCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The deployment's name (or id)." };
        var command = new Command("undeploy", "Remove a deployment: its stages stop on every agent and free their memory; /v1 stops serving it.");
        command.Arguments.Add(name);
        var client = DeployClient.AddOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var removed = await api.DeleteAsync(result.GetValue(name)!, ct).ConfigureAwait(false);
            Console.WriteLine($"Deployment {removed.Name} removed; its {removed.Stages.Count} stage(s) are stopping on their agents.");
            return 0;
        }));
        return command;
    }
}
