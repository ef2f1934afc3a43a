using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tessera.Deploy;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera deployments</c>: every deployment with its stages and where they stand.</summary>
internal static class DeployListCommand
{
    public static Command Create()
    {
        var output = PoolCli.OutputOption();
        var command = new Command("deployments", "List the pool's deployments with their stages: node, layers, state and endpoint.");
        command.Options.Add(output);
        var client = DeployClient.AddOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var deployments = await api.ListAsync(ct).ConfigureAwait(false);
            if (result.GetValue(output) == "json")
            {
                PoolCli.WriteJson(deployments);
                return 0;
            }
            if (deployments.Count == 0)
            {
                Console.WriteLine("No deployments. Deploy a model with `tessera deploy MODEL`.");
                return 0;
            }
            PoolCli.WriteTable(Render(deployments));
            return 0;
        }));
        return command;
    }

    internal static Table Render(IReadOnlyList<DeploymentView> deployments)
    {
        // "Seen GB/s": the device's speed as its stages' decoding shows it, which plans use over the probe (tessera nodes).
        var table = new Table().AddColumns("Name", "State", "Stage", "Node", "Device", "Layers", "Weights", "KV cache", "Seen GB/s", "Stage state", "Endpoint");
        foreach (var d in deployments)
        {
            var first = true;
            foreach (var s in d.Stages)
            {
                table.AddRow(
                    first ? Markup.Escape(d.Name) : "",
                    first ? StateMarkup(d.State) + (d.Error is null ? "" : "\n" + Markup.Escape(d.Error)) : "",
                    d.Stages.Any(x => x.Replica > 0) ? $"{s.Replica}.{s.Index}" : s.Index.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(s.NodeName),
                    Markup.Escape(s.Device),
                    $"{s.FirstLayer}-{s.LastLayer}",
                    DeployCommand.Bytes(s.WeightBytes),
                    DeployCommand.Bytes(s.KvBytes),
                    s.ObservedGBps is { } seen ? seen.ToString("0.##", CultureInfo.InvariantCulture) : "-",
                    StateMarkup(s.State) + (s.State == StageStates.Fetching && s.BytesTotal > 0 ? $" {100.0 * s.BytesDone / s.BytesTotal:0}%" : ""),
                    Markup.Escape(s.Endpoint ?? "-"));
                first = false;
            }
        }
        return table;
    }

    /// <summary>A deployment's or a stage's state, coloured as `tessera deployments` and `tessera top` show it.</summary>
    internal static string StateMarkup(string state) => state switch
    {
        "ready" => "[green]ready[/]",
        "failed" => "[red]failed[/]",
        "waiting" => "[yellow]waiting[/]",
        _ => Markup.Escape(state),
    };
}
