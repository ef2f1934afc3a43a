using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;
using Tessera.Cli.Hosting;
using Tessera.Deploy;
using Tessera.Pool.Client;

namespace Tessera.Cli.Commands;

/// <summary>
/// <c>tessera top</c>: the pool at a glance, refreshed in place (a Spectre.Console live display) for a server without a
/// browser: serving throughput and latency, nodes, deployments and the last events. <c>--once</c> prints one frame.
/// </summary>
internal static class TopCommand
{
    public static Command Create()
    {
        var interval = new Option<double>("--interval") { Description = "Seconds between refreshes (0.5..60).", DefaultValueFactory = _ => 2 };
        var once = new Option<bool>("--once") { Description = "Print one frame and exit (also what happens when the output is not a terminal)." };
        var command = new Command("top", "Watch the pool: serving tokens/s and latency, nodes, deployments and the last events, refreshed in place.");
        command.Options.Add(interval);
        command.Options.Add(once);
        var client = DeployClient.AddOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var every = TimeSpan.FromSeconds(Math.Clamp(result.GetValue(interval), 0.5, 60));
            if (result.GetValue(once) || Console.IsOutputRedirected)
            {
                AnsiConsole.Write(Render(await Frame.ReadAsync(api, ct).ConfigureAwait(false)));
                return 0;
            }
            var first = Render(await Frame.ReadAsync(api, ct).ConfigureAwait(false));
            await AnsiConsole.Live(first).AutoClear(false).StartAsync(async live =>
            {
                while (!ct.IsCancellationRequested)
                {
                    try
                    {
                        await Task.Delay(every, ct).ConfigureAwait(false);
                        live.UpdateTarget(Render(await Frame.ReadAsync(api, ct).ConfigureAwait(false)));
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                    catch (Exception ex) when (ex is Pool.PoolException or HttpRequestException)
                    {
                        // The coordinator restarting or busy: say so in place, and try again at the next refresh.
                        live.UpdateTarget(new Markup($"[yellow]{Markup.Escape(DateTime.Now.ToString("T", CultureInfo.CurrentCulture))}: {Markup.Escape(ex.Message)}[/]"));
                    }
                }
            }).ConfigureAwait(false);
            return 0;
        }));
        return command;
    }

    /// <summary>What one refresh reads from the coordinator.</summary>
    internal sealed record Frame(IReadOnlyList<NodeView> Nodes, IReadOnlyList<DeploymentView> Deployments, IReadOnlyList<EventView> Events, ServingLiveView? Serving, DateTimeOffset At)
    {
        public static async Task<Frame> ReadAsync(DeployClient api, CancellationToken ct)
        {
            var nodes = api.Pool.GetNodesAsync(ct);
            var deployments = api.ListAsync(ct);
            var events = api.Pool.GetLatestEventsAsync(6, null, ct);
            ServingLiveView? serving;
            try
            {
                serving = await api.Pool.SendAsync<ServingLiveView>(HttpMethod.Get, "api/serving/live", null, ct).ConfigureAwait(false);
            }
            catch (Pool.PoolException)
            {
                serving = null; // a coordinator without the figures (an older one)
            }
            return new Frame(await nodes.ConfigureAwait(false), await deployments.ConfigureAwait(false), await events.ConfigureAwait(false), serving, DateTimeOffset.Now);
        }
    }

    internal static IRenderable Render(Frame frame)
    {
        var c = CultureInfo.InvariantCulture;
        var states = string.Join("  ", frame.Nodes.GroupBy(n => n.State).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{NodesCommand.StateMarkup(g.Key)} {g.Count()}"));
        var serving = frame.Serving is { } s
            ? string.Create(c, $"[bold]{s.TokensPerSecond:0.0}[/] tokens/s   first token [bold]{s.TimeToFirstTokenMs:0}[/] ms   per token [bold]{s.TokenLatencyMs:0.0}[/] ms   (last {s.WindowSeconds} s; {s.Requests} requests, {s.Tokens} tokens in all)")
            : "[grey]serving figures not available[/]";
        var header = new Panel(new Markup($"{frame.Nodes.Count} nodes: {states}\n{serving}"))
            .Header($"[bold]tessera top[/] {Markup.Escape(frame.At.ToString("T", CultureInfo.CurrentCulture))}").Expand();

        var nodes = new Table().Expand().AddColumns("Node", "State", "CPU busy", "RAM used", "GPUs", "Speed GB/s", "Heartbeat");
        foreach (var n in frame.Nodes.Take(40))
        {
            nodes.AddRow(
                Markup.Escape(n.Name),
                NodesCommand.StateMarkup(n.State) + (n.Drained ? " [grey](drained)[/]" : string.Empty),
                string.Create(c, $"{n.Cpu.BusyPercent:0} %"),
                $"{PoolCli.Gib(n.RamTotalBytes - n.RamFreeBytes)}/{PoolCli.Gib(n.RamTotalBytes)} GiB",
                n.Gpus.Count == 0 ? "-" : string.Join(", ", n.Gpus.Select(g => string.Create(c, $"{g.Device} {g.UtilizationPercent:0} % {PoolCli.Gib(g.MemoryTotalBytes - g.MemoryFreeBytes)}/{PoolCli.Gib(g.MemoryTotalBytes)}"))),
                n.Cpu.SpeedGBps > 0 ? n.Cpu.SpeedGBps.ToString("0.0", c) : "-",
                PoolCli.Ago(n.LastHeartbeat));
        }
        if (frame.Nodes.Count > 40)
            nodes.Caption($"and {frame.Nodes.Count - 40} more (tessera nodes lists them all)");

        var deployments = new Table().Expand().AddColumns("Deployment", "State", "Stages", "Tokens/s (predicted)", "Sessions / queued", "Model");
        foreach (var d in frame.Deployments)
        {
            var stages = string.Join("  ", d.Stages.OrderBy(x => x.Replica).ThenBy(x => x.Index)
                .Select(x => $"{Markup.Escape(x.NodeName)}[grey][[{x.FirstLayer},{x.LastLayer})[/] {DeployListCommand.StateMarkup(x.State)}"));
            var served = frame.Serving?.Models?.GetValueOrDefault(d.Name);
            deployments.AddRow(Markup.Escape(d.Name), DeployListCommand.StateMarkup(d.State), stages,
                string.Create(c, $"{served?.TokensPerSecond ?? 0:0.0} ({d.PredictedTokensPerSecond:0.0})"),
                string.Create(c, $"{served?.ActiveSessions ?? 0} / {served?.QueuedSessions ?? 0}"), Markup.Escape(Path.GetFileName(d.Model)));
        }
        if (frame.Deployments.Count == 0)
            deployments.AddRow("[grey]none[/]", string.Empty, string.Empty, string.Empty, string.Empty, string.Empty);

        var events = new Table().Expand().HideHeaders().NoBorder().AddColumns("At", "Kind", "Message");
        foreach (var e in frame.Events)
            events.AddRow(Markup.Escape(e.At.ToLocalTime().ToString("T", CultureInfo.CurrentCulture)), Markup.Escape(e.Kind), Markup.Escape(e.Message));
        return new Rows(header, nodes, deployments, new Panel(events).Header("last events").Expand());
    }
}
