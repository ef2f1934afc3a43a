using System.CommandLine;
using Spectre.Console;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera events</c>: the pool's event log (joins, state transitions, token changes).</summary>
internal static class PoolEventsCommand
{
    public static Command Create()
    {
        var node = new Option<string?>("--node") { Description = "Only events of this node id." };
        var limit = new Option<int>("--limit") { Description = "At most this many events (the most recent).", DefaultValueFactory = _ => 50 };
        var output = PoolCli.OutputOption();
        var command = new Command("events", "Show the pool's events in words: joins, node state changes, tokens and keys, deployments, lost or drained stages, cut links and improved plans, and how stages were moved.");
        command.Options.Add(node);
        command.Options.Add(limit);
        command.Options.Add(output);
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            // The last events are read from the end of the log, page by page: the cost follows --limit, not the log's length.
            var events = await api.GetLatestEventsAsync(Math.Max(1, result.GetValue(limit)), result.GetValue(node), ct).ConfigureAwait(false);
            if (result.GetValue(output) == "json")
            {
                PoolCli.WriteJson(events);
                return 0;
            }
            var table = new Table().AddColumns("#", "At (UTC)", "Kind", "Node", "Transition", "Message");
            foreach (var e in events)
            {
                var transition = e.ToState is null ? string.Empty : $"{e.FromState ?? "-"} -> {NodesCommand.StateMarkup(e.ToState)}";
                table.AddRow(e.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{e.At:yyyy-MM-dd HH:mm:ss}", e.Kind, e.NodeId ?? string.Empty, transition, Markup.Escape(e.Message));
            }
            PoolCli.WriteTable(table);
            return 0;
        }));
        return command;
    }
}
