using System.CommandLine;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera node drain|remove NODE</c>.</summary>
internal static class NodeCommand
{
    public static Command Create()
    {
        var command = new Command("node", "Act on one node.");
        command.Subcommands.Add(Action("drain", "Drain a node: no new work is placed on it; it stays in the pool.", drain: true));
        command.Subcommands.Add(Action("remove", "Remove a node: it leaves the pool, its certificate is refused and its agent exits.", drain: false));
        return command;
    }

    private static Command Action(string name, string description, bool drain)
    {
        var node = new Argument<string>("NODE") { Description = "Node name or id, as shown by `tessera nodes`." };
        var command = new Command(name, description);
        command.Arguments.Add(node);
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var target = result.GetValue(node)!;
            var view = drain ? await api.DrainAsync(target, ct).ConfigureAwait(false) : await api.RemoveAsync(target, ct).ConfigureAwait(false);
            Console.WriteLine($"Node {view.Name} ({view.Id}) is now {view.State}.");
            return 0;
        }));
        return command;
    }
}
