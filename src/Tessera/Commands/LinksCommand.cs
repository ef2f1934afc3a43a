using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tessera.Pool.Client;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera links</c>: the links the pool measured between its nodes (and from the coordinator to each).</summary>
internal static class LinksCommand
{
    public static Command Create()
    {
        var output = PoolCli.OutputOption();
        var measure = new Option<bool>("--measure") { Description = "Measure every link now (each pair of agents, at most 64 per agent, and each agent from the coordinator) before listing; takes about a second per agent." };
        var matrix = new Option<bool>("--matrix") { Description = "Print the median round trips as a matrix (rows measure, columns are measured)." };
        var command = new Command("links", "List the measured links between nodes: round trip (median, p99), jitter, loss, throughput, when, and what failed.");
        foreach (var option in new Option[] { output, measure, matrix })
            command.Options.Add(option);
        // Measuring every link of a large pool takes a while: the coordinator measures each agent in turn, and each
        // agent its peers in turn (at most 64).
        var client = PoolCli.AddClientOptions(command, TimeSpan.FromMinutes(15));
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            if (result.GetValue(measure))
            {
                var round = await api.MeasureLinksAsync(ct).ConfigureAwait(false);
                if (result.GetValue(output) != "json")
                {
                    Console.WriteLine($"Measured {round.Measured} links, {round.Unreachable} unreachable"
                        + (round.NotAnswered > 0 ? $", {round.NotAnswered} agents did not answer in time." : "."));
                }
            }
            var links = await api.GetLinksAsync(ct).ConfigureAwait(false);
            var nodes = await api.GetNodesAsync(ct).ConfigureAwait(false);
            if (result.GetValue(output) == "json")
                PoolCli.WriteJson(links);
            else if (links.Count == 0)
                Console.WriteLine("No links measured yet: agents are measured within seconds of joining (or run `tessera links --measure`).");
            else
                PoolCli.WriteTable(result.GetValue(matrix) ? RenderMatrix(links, nodes) : Render(links, nodes, await api.GetObservedHopsAsync(ct).ConfigureAwait(false)));
            return 0;
        }));
        return command;
    }

    /// <summary>A node's name for its id; the coordinator's own measurements come from "coordinator".</summary>
    private static Func<string, string> Names(IReadOnlyList<NodeView> nodes)
    {
        var byId = nodes.ToDictionary(n => n.Id, n => n.Name, StringComparer.Ordinal);
        return id => byId.GetValueOrDefault(id, id);
    }

    internal static Table Render(IReadOnlyList<LinkView> links, IReadOnlyList<NodeView> nodes, IReadOnlyList<ObservedHopView>? observed = null)
    {
        var name = Names(nodes);
        // what a pipeline's tokens took on the link, both ways; the planner uses it in place of the probe's RTT
        var seen = (observed ?? []).ToDictionary(h => (h.NodeA, h.NodeB), h => h.LatencyMs);
        string Seen(LinkView l) =>
            seen.TryGetValue((l.FromNodeId, l.ToNodeId), out var ms) || seen.TryGetValue((l.ToNodeId, l.FromNodeId), out ms) ? Ms(ms) : "-";
        var table = new Table().AddColumns("From", "To", "RTT p50 ms", "p99 ms", "Jitter ms", "Loss", "Mbit/s", "Seen by pipelines ms", "Measured", "Problem");
        foreach (var l in links.OrderBy(l => name(l.FromNodeId), StringComparer.Ordinal).ThenBy(l => name(l.ToNodeId), StringComparer.Ordinal))
        {
            var ok = l.Error is null;
            table.AddRow(
                Markup.Escape(name(l.FromNodeId)),
                Markup.Escape(name(l.ToNodeId)),
                ok ? Ms(l.RttMs) : "-",
                ok ? Ms(l.RttP99Ms) : "-",
                ok ? Ms(l.JitterP99Ms) : "-",
                ok ? (l.Loss * 100).ToString("0.#", CultureInfo.InvariantCulture) + " %" : "-",
                ok && l.BandwidthMbps > 0 ? l.BandwidthMbps.ToString("0", CultureInfo.InvariantCulture) : "-",
                Seen(l),
                PoolCli.Ago(l.MeasuredAt),
                ok ? string.Empty : "[red]" + Markup.Escape(l.Error!) + "[/]");
        }
        return table;
    }

    internal static Table RenderMatrix(IReadOnlyList<LinkView> links, IReadOnlyList<NodeView> nodes)
    {
        var name = Names(nodes);
        var ids = links.SelectMany(l => new[] { l.FromNodeId, l.ToNodeId }).Distinct().OrderBy(name, StringComparer.Ordinal).ToList();
        var table = new Table().AddColumn("RTT p50 ms");
        foreach (var id in ids)
            table.AddColumn(Markup.Escape(name(id)));
        var byPair = links.ToDictionary(l => (l.FromNodeId, l.ToNodeId));
        foreach (var from in ids)
        {
            var cells = new List<string> { Markup.Escape(name(from)) };
            foreach (var to in ids)
            {
                cells.Add(from == to ? "·"
                    : !byPair.TryGetValue((from, to), out var l) ? "-"
                    : l.Error is null ? Ms(l.RttMs) : "[red]unreachable[/]");
            }
            table.AddRow(cells.ToArray());
        }
        return table;
    }

    /// <summary>Whether peers can reach <paramref name="nodeId"/>: the newest measurement of a link to it decides; null when none was made.</summary>
    internal static bool? Reachable(string nodeId, IReadOnlyList<LinkView> links) =>
        links.Where(l => l.ToNodeId == nodeId).OrderByDescending(l => l.MeasuredAt).FirstOrDefault() is { } newest ? newest.Error is null : null;

    private static string Ms(double ms) => ms.ToString(ms < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture);
}
