using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tessera.Deploy;
using Tessera.Engine.Gpu;
using Tessera.Identity;
using Tessera.Pool;
using Tessera.Pool.Agent;
using Tessera.Pool.Hardware;
using Tessera.Pool.Security;
using Tessera.Serving;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera join TOKEN</c>: join a pool and keep this machine's agent connected.</summary>
internal static class JoinCommand
{
    /// <summary>The environment variable a join token may come in, out of sight of ps.</summary>
    public const string TokenVariable = "TESSERA_JOIN_TOKEN";

    /// <summary>The token from the argument, else the file (or standard input), else the environment; null when none.</summary>
    internal static string? TokenText(string? argument, string? file)
    {
        if (!string.IsNullOrWhiteSpace(argument))
            return argument;
        if (file is not null)
            return (file == "-" ? Console.In.ReadLine() : File.ReadAllText(file))?.Trim();
        return Environment.GetEnvironmentVariable(TokenVariable) is { Length: > 0 } variable ? variable.Trim() : null;
    }

    public static Command Create()
    {
        var token = new Argument<string?>("TOKEN")
        {
            Description = $"Join token from `tessera pool start` or `tessera token create` (or set {TokenVariable}, or use --token-file, to keep it out of the process list). Not needed once this machine has joined.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var tokenFile = new Option<string?>("--token-file") { Description = "Read the join token from this file ('-': standard input) instead of the command line." };
        var name = new Option<string?>("--name") { Description = "Name of this node (default: the host name)." };
        var dataDir = PoolCli.DataDirOption();
        var probe = new Option<int>("--speed-probe-mb") { Description = "Buffer size of the memory speed measurement (0 skips it).", DefaultValueFactory = _ => 256 };
        var speed = PoolCli.SpeedOption();
        var cacheLimit = PoolCli.CacheLimitOption();
        var probePort = PoolCli.ProbePortOption();
        var verbose = new Option<bool>("--verbose") { Description = "Log debug messages." };
        var logFormat = PoolCli.LogFormatOption();
        var faultSlowdown = new Option<string?>("--fault-slowdown-file")
        {
            // A fault-injection hook for tests and chaos runs: hidden, never needed in normal use.
            Description = "Fault injection (tests only): a file holding a factor; this agent's stages run that many times slower while it says more than 1.",
            Hidden = true,
        };
        var standInGpu = PoolCli.StandInGpuOption();
        var command = new Command("join", "Join this machine to a pool and contribute its devices. Runs until stopped; reconnects by itself.");
        command.Arguments.Add(token);
        foreach (var option in new Option[] { tokenFile, name, dataDir, probe, speed, cacheLimit, probePort, verbose, logFormat, faultSlowdown, standInGpu })
            command.Options.Add(option);
        command.SetAction((result, invocationToken) => PoolCli.RunAsync(async () =>
        {
            using var stopping = PoolCli.OnStopSignal(invocationToken);
            var cancellationToken = stopping.Token;
            var tokenText = TokenText(result.GetValue(token), result.GetValue(tokenFile));
            var parsed = string.IsNullOrWhiteSpace(tokenText) ? null : JoinToken.Parse(tokenText);
            var dir = new PoolDataDirectory(result.GetValue(dataDir));
            var agentDir = dir.AgentDirectory;
            var time = TimeProvider.System;
            using var logging = PoolCli.CreateLogging(result.GetValue(verbose), result.GetValue(logFormat));
            var output = new CommandOutput(result.GetValue(logFormat), logging);

            NodeIdentity identity;
            Tessera.Pool.Protocol.Hardware hardware;
            if (NodeIdentity.Exists(agentDir))
            {
                identity = NodeIdentity.Load(agentDir);
                if (parsed is not null && parsed.CaSha256 != identity.File.CaSha256)
                {
                    identity.Dispose();
                    throw new PoolException($"{dir.Root} already belongs to pool {identity.File.PoolId}, not to the pool of this token. Use another --data-dir to join a second pool.", exitCode: 2);
                }
                output.Line($"Already a member of pool {identity.File.PoolId} as node {identity.File.Name} ({identity.NodeId}); reconnecting to {identity.File.Coordinator}.");
                hardware = PoolCli.Discover(dir.Root, result.GetValue(probe), result.GetValue(speed), result.GetValue(standInGpu));
            }
            else
            {
                if (parsed is null)
                    throw new PoolException($"{dir.Root} holds no pool membership yet: pass the join token printed by `tessera pool start` or `tessera token create` on the coordinator.", exitCode: 2);
                hardware = PoolCli.Discover(ExistingAncestor(dir.Root), result.GetValue(probe), result.GetValue(speed), result.GetValue(standInGpu));
                var nodeName = result.GetValue(name) ?? Environment.MachineName;
                identity = await JoinClient.JoinAsync(parsed, agentDir, nodeName, hardware, time, cancellationToken).ConfigureAwait(false);
                output.Line($"Joined pool {identity.File.PoolId} as node {identity.File.Name} ({identity.NodeId}). Identity stored in {agentDir}.");
            }

            using (identity)
            {
                await using var stages = DeploymentHosting.CreateSupervisor(identity, agentDir, logging, time, PoolCli.CacheLimitBytes(result.GetValue(cacheLimit)),
                    result.GetValue(faultSlowdown) is { } slowdownFile ? new FaultSlowdownFile(slowdownFile, time).Factor : null, DeviceBackendFactory.Instance);
                await using var links = await DeploymentHosting.StartLinkProbeAsync(identity, stages, result.GetValue(probePort), logging, time, cancellationToken).ConfigureAwait(false);
                await using var relay = DeploymentHosting.CreateRelayDialer(identity, stages, links, logging);
                var runner = new AgentRunner(identity, LocalAgent.StandardOptions(agentDir, result.GetValue(name), hardware, time).WithStages(stages, links, relay), time, logging.CreateLogger<AgentRunner>());
                var exit = await runner.RunAsync(cancellationToken).ConfigureAwait(false);
                switch (exit.Reason)
                {
                    case AgentExitReason.Removed:
                        output.Line(exit.Message);
                        return 0;
                    case AgentExitReason.Refused:
                        output.Error(exit.Message);
                        return 3;
                    default:
                        return 0;
                }
            }
        }, result.GetValue(logFormat)));
        return command;
    }

    private static string ExistingAncestor(string path)
    {
        var dir = new DirectoryInfo(path);
        while (dir is not null && !dir.Exists)
            dir = dir.Parent;
        return dir?.FullName ?? Path.GetTempPath();
    }
}
