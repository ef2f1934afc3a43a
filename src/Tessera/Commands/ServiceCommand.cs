using System.CommandLine;
using System.Diagnostics;
using Tessera.Cli.Install;
using Tessera.Identity;
using Tessera.Pool;
using Tessera.Pool.Security;

namespace Tessera.Cli.Commands;

/// <summary>
/// <c>tessera service install|uninstall</c>: run the coordinator (<c>pool start</c>) or an agent (<c>join</c>) under systemd,
/// started at boot and restarted after a failure (<see cref="SystemdUnit"/>).
/// </summary>
internal static class ServiceCommand
{
    public const string DefaultUnitDirectory = "/etc/systemd/system";
    public const string DefaultConfigDirectory = "/etc/tessera";

    public static Command Create()
    {
        var command = new Command("service", "Run the coordinator or an agent as a systemd service (started at boot, restarted after a failure).");
        command.Subcommands.Add(CreateInstall());
        command.Subcommands.Add(CreateUninstall());
        return command;
    }

    private static Option<ServiceRole> RoleOption() => new("--role")
    {
        Description = "coordinator: `tessera pool start` (the pool and this machine's agent); agent: `tessera join` (this machine in a pool).",
        Required = true,
        HelpName = "coordinator|agent",
        CustomParser = result => Enum.TryParse<ServiceRole>(result.Tokens.Single().Value, ignoreCase: true, out var role)
            ? role
            : throw new PoolException($"--role {result.Tokens.Single().Value}: give coordinator or agent.", exitCode: 2),
    };

    private static Option<string> UnitDirectoryOption() => new("--output")
    {
        Description = "Folder of the unit file.",
        DefaultValueFactory = _ => DefaultUnitDirectory,
    };

    private static Option<string> ConfigDirectoryOption() => new("--config-dir")
    {
        Description = "Folder of the agent's join token file (NAME.env, readable by root only).",
        DefaultValueFactory = _ => DefaultConfigDirectory,
    };

    private static Command CreateInstall()
    {
        var role = RoleOption();
        var token = new Option<string?>("--token") { Description = $"agent: the join token for the first start (or --token-file, or ${JoinCommand.TokenVariable}); kept in --config-dir, readable by root only." };
        var tokenFile = new Option<string?>("--token-file") { Description = "agent: read the join token from this file ('-': standard input)." };
        var user = new Option<string?>("--user") { Description = "Run as this existing account (e.g. one in the group that may use the GPUs); default: a user systemd makes for the service alone (DynamicUser)." };
        var binary = new Option<string?>("--binary") { Description = "The tessera executable the service runs (default: this one). Install it where any user can read it, e.g. /usr/local/bin/tessera." };
        var print = new Option<bool>("--print") { Description = "Print the unit on standard output and write nothing." };
        var output = UnitDirectoryOption();
        var config = ConfigDirectoryOption();
        var enableNow = new Option<bool>("--enable-now") { Description = "Then `systemctl daemon-reload` and `systemctl enable --now` the service." };
        var arguments = new Argument<string[]>("ARGS")
        {
            Description = "More options of `pool start` or `join`, after --, e.g. -- --listen 0.0.0.0:7470 or -- --name gpu-box --cache-limit 200G.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var command = new Command("install", "Write the systemd unit tessera-coordinator.service (pool start) or tessera-agent.service (join).");
        foreach (var option in new Option[] { role, token, tokenFile, user, binary, print, output, config, enableNow })
            command.Options.Add(option);
        command.Arguments.Add(arguments);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            var serviceRole = result.GetValue(role);
            var tokenText = JoinCommand.TokenText(result.GetValue(token), result.GetValue(tokenFile));
            if (tokenText is not null && serviceRole != ServiceRole.Agent)
                throw new PoolException("A join token is for --role agent; the coordinator makes the pool's tokens itself.", exitCode: 2);
            var parsed = tokenText is null ? null : JoinToken.Parse(tokenText);
            var unit = new SystemdUnit
            {
                Role = serviceRole,
                Program = result.GetValue(binary) is { } path ? [Path.GetFullPath(path)] : SelfCommand.Prefix(),
                Arguments = result.GetValue(arguments) ?? [],
                User = result.GetValue(user),
                EnvironmentFile = Path.Combine(Path.GetFullPath(result.GetValue(config)!), SystemdUnit.NameOf(serviceRole) + ".env"),
                WrittenBy = "tessera " + BuildVersion.Full,
            };
            WarnIfUnreadable(unit);
            if (result.GetValue(print))
            {
                Console.Write(unit.Render());
                if (parsed is not null)
                    await Console.Error.WriteLineAsync($"note: with --print the join token is not written; put TESSERA_JOIN_TOKEN=<token> in {unit.EnvironmentFile} (mode 600).").ConfigureAwait(false);
                return 0;
            }

            var unitPath = Path.Combine(Path.GetFullPath(result.GetValue(output)!), unit.FileName);
            Write(() =>
            {
                Directory.CreateDirectory(Path.GetDirectoryName(unitPath)!);
                File.WriteAllText(unitPath, unit.Render());
            }, unitPath);
            Console.WriteLine($"Wrote {unitPath}: {string.Join(' ', unit.Command())}");
            if (parsed is not null)
            {
                Write(() =>
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(unit.EnvironmentFile)!);
                    PrivateFile.WriteAllText(unit.EnvironmentFile, $"{JoinCommand.TokenVariable}={tokenText}\n");
                }, unit.EnvironmentFile);
                Console.WriteLine($"Wrote {unit.EnvironmentFile}: the join token ({parsed}), read on the first start only.");
            }
            else if (serviceRole == ServiceRole.Agent)
            {
                Console.WriteLine($"No join token given: the agent starts only if {unit.DataDirectory} holds this machine's membership already. "
                    + $"Add one with `tessera service install --role agent --token TOKEN` or put TESSERA_JOIN_TOKEN=TOKEN in {unit.EnvironmentFile}.");
            }
            Console.WriteLine($"The pool's files will be in {unit.DataDirectory}.");
            if (result.GetValue(enableNow))
                return Systemctl("daemon-reload") == 0 && Systemctl("enable", "--now", unit.FileName) == 0 ? Started(unit) : 1;
            Console.WriteLine($"Start it now and at every boot with:  sudo systemctl daemon-reload && sudo systemctl enable --now {unit.Name}");
            return 0;
        }));
        return command;
    }

    private static Command CreateUninstall()
    {
        var role = RoleOption();
        var output = UnitDirectoryOption();
        var config = ConfigDirectoryOption();
        var command = new Command("uninstall", "Stop and disable the service and remove its unit and token files; the pool's files in /var/lib stay.");
        foreach (var option in new Option[] { role, output, config })
            command.Options.Add(option);
        command.SetAction((result, ct) => PoolCli.RunAsync(() =>
        {
            var serviceRole = result.GetValue(role);
            var name = SystemdUnit.NameOf(serviceRole);
            var unitPath = Path.Combine(Path.GetFullPath(result.GetValue(output)!), name + ".service");
            var envPath = Path.Combine(Path.GetFullPath(result.GetValue(config)!), name + ".env");
            var systemd = unitPath == Path.Combine(DefaultUnitDirectory, name + ".service") && FindSystemctl() is not null;
            if (systemd && File.Exists(unitPath))
                Systemctl("disable", "--now", name + ".service");
            var removed = 0;
            foreach (var path in new[] { unitPath, envPath }.Where(File.Exists))
            {
                Write(() => File.Delete(path), path);
                Console.WriteLine("Removed " + path);
                removed++;
            }
            if (systemd)
                Systemctl("daemon-reload");
            if (removed == 0)
                Console.WriteLine($"Nothing to remove: there is no {unitPath}.");
            Console.WriteLine($"The pool's files stay in /var/lib/{name} (/var/lib/private/{name} under DynamicUser); delete them to forget the pool.");
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>Warns when the executable lies where the service's user may not read it (a home, /tmp, which the unit also hides).</summary>
    private static void WarnIfUnreadable(SystemdUnit unit)
    {
        var file = unit.Program[^1];
        string[] hidden = ["/root/", "/home/", "/tmp/", "/var/tmp/"];
        if (unit.User is null && hidden.Any(h => file.StartsWith(h, StringComparison.Ordinal)))
            Console.Error.WriteLine($"warning: the service runs as a user of its own, who cannot read {file} there. Install tessera where every user can read it "
                + "(sudo install -m 755 tessera /usr/local/bin/) and run that copy's `service install`, or pass --binary or --user.");
    }

    private static void Write(Action write, string path)
    {
        try
        {
            write();
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new PoolException($"Cannot write {path} ({ex.Message}): run it with sudo, or choose folders you may write with --output and --config-dir, or --print the unit.", exitCode: 2, inner: ex);
        }
    }

    private static int Started(SystemdUnit unit)
    {
        Console.WriteLine($"{unit.Name} is enabled and started. Follow it with:  journalctl -u {unit.Name} -f");
        if (unit.Role == ServiceRole.Coordinator)
            Console.WriteLine($"The first start prints the pool's join token there; make more with `sudo tessera token create --data-dir {unit.DataDirectory}`.");
        return 0;
    }

    private static string? FindSystemctl() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "systemctl")).FirstOrDefault(File.Exists);

    private static int Systemctl(params string[] args)
    {
        var systemctl = FindSystemctl() ?? throw new PoolException("systemctl is not on PATH: this machine does not run systemd. Start the unit another way, or run the command in it by hand.", exitCode: 2);
        var start = new ProcessStartInfo(systemctl) { UseShellExecute = false };
        foreach (var a in args)
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        process.WaitForExit();
        if (process.ExitCode != 0)
            Console.Error.WriteLine($"error: systemctl {string.Join(' ', args)} exited {process.ExitCode}.");
        return process.ExitCode;
    }
}
