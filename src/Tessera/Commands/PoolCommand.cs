using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tessera.Cli.Hosting;
using Tessera.Deploy;
using Tessera.Planner;
using Tessera.Pool;
using Tessera.Pool.Agent;
using Tessera.Pool.Coordinator;
using Tessera.Pool.Hardware;
using Tessera.Pool.Security;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera pool start</c> (coordinator and local agent) and <c>tessera pool bench-heartbeats</c>.</summary>
internal static class PoolCommand
{
    public static Command Create()
    {
        var command = new Command("pool", "Start and inspect a pool of machines.");
        command.Subcommands.Add(CreateStart());
        command.Subcommands.Add(PoolBenchCommand.Create());
        command.Subcommands.Add(CreateRotateAdminKey());
        return command;
    }

    private static Command CreateRotateAdminKey()
    {
        var command = new Command("rotate-admin-key",
            "Replace the pool's admin key: the coordinator writes a new admin.key and refuses the old key from now on.");
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var rotated = await api.RotateAdminKeyAsync(ct).ConfigureAwait(false);
            Console.WriteLine($"Admin key replaced; the old one is refused from now on. The coordinator wrote the new key to {rotated.Path}:");
            Console.WriteLine($"  {rotated.Key}");
            Console.WriteLine("Give it to every tool or person that administers the pool (TESSERA_ADMIN_KEY or --admin-key); on the coordinator's machine the CLI reads admin.key itself.");
            return 0;
        }));
        return command;
    }

    private static Command CreateStart()
    {
        var dataDir = PoolCli.DataDirOption();
        var listen = new Option<string?>("--listen") { Description = $"ADDR:PORT for agents and the API (first start: 0.0.0.0:{CoordinatorOptions.DefaultPort}; later starts reuse the stored address). Port 0 picks a free port." };
        var advertise = new Option<string?>("--advertise") { Description = "HOST:PORT written into join tokens, when agents reach this machine by another address (NAT, DNS name)." };
        var noAgent = new Option<bool>("--no-agent") { Description = "Run only the coordinator; this machine contributes no devices." };
        var name = new Option<string?>("--name") { Description = "Name of this machine's node (default: the host name)." };
        var ttl = new Option<string>("--token-ttl") { Description = "Validity of the join token printed when the pool is created.", DefaultValueFactory = _ => "24h" };
        var tokenUses = new Option<int>("--token-uses") { Description = "Machines that may join with the token printed when the pool is created.", DefaultValueFactory = _ => 1 };
        var probe = new Option<int>("--speed-probe-mb") { Description = "Buffer size of the memory speed measurement (0 skips it).", DefaultValueFactory = _ => 256 };
        var speed = PoolCli.SpeedOption();
        var cacheLimit = PoolCli.CacheLimitOption();
        var probePort = PoolCli.ProbePortOption();
        var maxDownload = PoolCli.MaxDownloadOption();
        var noImprove = new Option<bool>("--no-improve") { Description = "Deployments keep their plan when the pool gets better (they still re-plan when a node is lost or drained)." };
        var improveInterval = new Option<string>("--improve-interval") { Description = "How often a deployment looks for a better plan, and the least time between two changes of its plan.", DefaultValueFactory = _ => "60s" };
        var improveMinGain = new Option<double>("--improve-min-gain") { Description = "Percent faster (predicted) a new plan must be before a deployment moves to it.", DefaultValueFactory = _ => PlannerOptions.Default.ImproveMinSpeedGain * 100 };
        var improveMoveGain = new Option<double>("--improve-move-gain") { Description = "Extra percent asked for moving the whole model (scaled by the share that moves).", DefaultValueFactory = _ => PlannerOptions.Default.ImproveGainPerMovedModel * 100 };
        var observeInterval = new Option<string>("--observe-interval")
        {
            Description = "How often the coordinator reads its stages' step times to learn each node's speed; 'off': plan with the agents' probes only.",
            DefaultValueFactory = _ => "2s",
        };
        var verbose = new Option<bool>("--verbose") { Description = "Log debug messages." };
        var logFormat = PoolCli.LogFormatOption();
        var command = new Command("start", "Start the coordinator of a pool (creating the pool on first start) and an agent for this machine.");
        foreach (var option in new Option[] { dataDir, listen, advertise, noAgent, name, ttl, tokenUses, probe, speed, cacheLimit, probePort, maxDownload, noImprove, improveInterval, improveMinGain, improveMoveGain, observeInterval, verbose, logFormat })
            command.Options.Add(option);
        command.SetAction((result, invocationToken) => PoolCli.RunAsync(async () =>
        {
            using var stopping = PoolCli.OnStopSignal(invocationToken);
            var cancellationToken = stopping.Token;
            var dir = new PoolDataDirectory(result.GetValue(dataDir));
            var tokenTtl = DurationParser.Parse(result.GetValue(ttl)!);
            using var logging = PoolCli.CreateLogging(result.GetValue(verbose), result.GetValue(logFormat));
            var output = new CommandOutput(result.GetValue(logFormat), logging);
            var time = TimeProvider.System;
            await using var coordinator = await PoolCoordinator.StartAsync(new CoordinatorOptions
            {
                DataDirectory = dir,
                Listen = result.GetValue(listen),
                Advertise = result.GetValue(advertise),
            }, new DeploymentControllerOptions
            {
                ContentLimitBytes = PoolCli.CacheLimitBytes(result.GetValue(cacheLimit)),
                MaxDownloadBytes = PoolCli.MaxDownloadBytes(result.GetValue(maxDownload)),
                Improve = !result.GetValue(noImprove),
                ImproveInterval = DurationParser.Parse(result.GetValue(improveInterval)!),
                Speeds = StageSpeedOptions.Default with { ObserveInterval = result.GetValue(observeInterval) is "off" ? TimeSpan.Zero : DurationParser.Parse(result.GetValue(observeInterval)!) },
                Planner = PlannerOptions.Default with
                {
                    ImproveMinSpeedGain = result.GetValue(improveMinGain) / 100,
                    ImproveGainPerMovedModel = result.GetValue(improveMoveGain) / 100,
                },
            }, logging, time, cancellationToken).ConfigureAwait(false);
            var host = coordinator.Host;
            // A token is a key to the pool: one is made when the pool is created, not at every start.
            var joinToken = host.Created ? host.Context.CreateToken(tokenTtl, "printed by pool start", result.GetValue(tokenUses)) : default;
            PrintBanner(output, host, dir, joinToken.Record, tokenTtl, joinToken.Token);

            Task<AgentExit>? agent = null;
            if (!result.GetValue(noAgent))
            {
                var nodeName = result.GetValue(name) ?? Environment.MachineName;
                var hardware = PoolCli.Discover(dir.Root, result.GetValue(probe), result.GetValue(speed));
                using var identity = LocalAgent.EnsureIdentity(host, dir.AgentDirectory, nodeName, hardware);
                await using var stages = DeploymentHosting.CreateSupervisor(identity, dir.AgentDirectory, logging, time, PoolCli.CacheLimitBytes(result.GetValue(cacheLimit)),
                    backends: Tessera.Engine.Gpu.DeviceBackendFactory.Instance);
                await using var links = await DeploymentHosting.StartLinkProbeAsync(identity, stages, result.GetValue(probePort), logging, time, cancellationToken).ConfigureAwait(false);
                coordinator.Deployments.Links!.CoordinatorNodeId = identity.NodeId;
                await using var relay = DeploymentHosting.CreateRelayDialer(identity, stages, links, logging);
                var runner = new AgentRunner(identity, LocalAgent.StandardOptions(dir.AgentDirectory, result.GetValue(name), hardware, time).WithStages(stages, links, relay), time, logging.CreateLogger<AgentRunner>());
                agent = runner.RunAsync(cancellationToken);
                await WaitForCancellationAsync(cancellationToken).ConfigureAwait(false);
                output.Line("Coordinator stopping; the pool's state is in " + dir.Database);
                await agent.ConfigureAwait(false);
            }
            else
            {
                await WaitForCancellationAsync(cancellationToken).ConfigureAwait(false);
                output.Line("Coordinator stopping; the pool's state is in " + dir.Database);
            }
            return 0;
        }, result.GetValue(logFormat)));
        return command;
    }

    private static void PrintBanner(CommandOutput output, CoordinatorHost host, PoolDataDirectory dir, TokenRecord? token, TimeSpan ttl, string? tokenText)
    {
        var info = host.Info;
        output.Line($"Pool {info.PoolId} is running ({(host.Created ? "created now" : "resumed")}), listening on {info.Listen}.");
        output.Line($"  API        {info.ApiUrl}/api   (OpenAPI: {info.ApiUrl}/api/openapi.json)");
        output.Line($"  Dashboard  {info.ApiUrl}/dashboard   (sign in with the admin key; docs/dashboard.md says how a browser trusts the pool CA)");
        output.Line($"  Admin key  {dir.AdminKey}   (send as 'Authorization: Bearer <key>')");
        output.Line($"  Metrics    {info.ApiUrl}/metrics   (Prometheus; bearer: the key in {dir.MetricsKey} or the admin key)");
        output.Line($"  Pool CA    {dir.CaCertificate}   (sha256 {info.CaSha256})");
        output.Line($"  State      {dir.Database}");
        output.Line();
        if (token is not null && tokenText is not null)
        {
            var machines = token.MaxUses == 1 ? "one machine" : $"{token.MaxUses} machines";
            output.Line($"Join another machine with (token {token.Id}, for {machines}, valid {ttl.TotalHours:0.#} h; more with `tessera token create`):");
            output.Line($"  tessera join {tokenText}");
        }
        else
        {
            output.Line("Join another machine with a token from `tessera token create` (add --uses N for several machines).");
        }
        output.Line();
    }

    private static async Task WaitForCancellationAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
