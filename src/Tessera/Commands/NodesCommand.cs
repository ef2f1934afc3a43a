using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tessera.Pool.Client;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera nodes</c>: every node of the pool with its devices and health.</summary>
internal static class NodesCommand
{
    public static Command Create()
    {
        var output = PoolCli.OutputOption();
        var command = new Command("nodes", "List the pool's nodes: state, address, whether peers can reach it, CPU, SIMD, memory, GPUs, measured speed, last heartbeat.");
        command.Options.Add(output);
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var nodes = await api.GetNodesAsync(ct).ConfigureAwait(false);
            if (result.GetValue(output) == "json")
                PoolCli.WriteJson(nodes);
            else
                PoolCli.WriteTable(Render(nodes, await api.GetLinksAsync(ct).ConfigureAwait(false)));
            return 0;
        }));
        return command;
    }

    /// <param name="links">
    /// The measured links: a node is reachable when the newest measurement of a link to it succeeded. One that is not
    /// (behind NAT or a firewall) still hosts stages: the coordinator relays connections to it.
    /// </param>
    internal static Table Render(IReadOnlyList<NodeView> nodes, IReadOnlyList<LinkView>? links = null)
    {
        var table = new Table().AddColumns("Name", "State", "Address", "Reachable", "CPU", "SIMD", "RAM free/total GiB", "GPUs (free/total GiB)", "Speed GB/s", "Last heartbeat");
        foreach (var n in nodes)
        {
            var gpus = n.Gpus.Count == 0
                ? "-"
                : string.Join("\n", n.Gpus.Select(g => $"{Markup.Escape(g.Device)}: {Markup.Escape(g.Name)} {PoolCli.Gib(g.MemoryFreeBytes)}/{PoolCli.Gib(g.MemoryTotalBytes)}{(g.SpeedGBps > 0 ? $", {g.SpeedGBps:F0} GB/s" : ", not usable (no speed)")}"));
            table.AddRow(
                Markup.Escape(n.Name),
                StateMarkup(n.State),
                Markup.Escape(n.Address),
                LinksCommand.Reachable(n.Id, links ?? []) switch { true => "yes", false => "[yellow]no (relayed via coordinator)[/]", null => "-" },
                Markup.Escape($"{n.Cpu.Model} ({n.Cpu.LogicalCores} threads)"),
                Markup.Escape(SimdSummary(n.Cpu.Simd)),
                $"{PoolCli.Gib(n.RamFreeBytes)}/{PoolCli.Gib(n.RamTotalBytes)}",
                gpus,
                n.Cpu.SpeedGBps > 0 ? n.Cpu.SpeedGBps.ToString("0.0", CultureInfo.InvariantCulture) : "-",
                PoolCli.Ago(n.LastHeartbeat));
        }
        return table;
    }

    /// <summary>The widest vector extension and FMA/dot-product support, e.g. "avx512 fma".</summary>
    internal static string SimdSummary(IReadOnlyList<string> simd)
    {
        var widest = simd.Any(s => s.StartsWith("avx512", StringComparison.Ordinal)) ? "avx512"
            : simd.Contains("avx2") ? "avx2"
            : simd.Contains("avx") ? "avx"
            : simd.Contains("neon") ? "neon"
            : simd.FirstOrDefault() ?? "-";
        var extras = simd.Where(s => s is "fma" or "dotprod" or "avxvnni");
        return string.Join(' ', extras.Prepend(widest));
    }

    internal static string StateMarkup(string state) => state switch
    {
        "ready" => "[green]ready[/]",
        "suspect" => "[yellow]suspect[/]",
        "down" => "[red]down[/]",
        "draining" => "[blue]draining[/]",
        "left" => "[grey]left[/]",
        _ => Markup.Escape(state),
    };
}
