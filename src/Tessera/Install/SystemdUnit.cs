using System.Globalization;
using System.Text;

namespace Tessera.Cli.Install;

/// <summary>
/// The systemd unit that runs tessera as a service: <c>tessera-coordinator.service</c> runs <c>pool start</c>,
/// <c>tessera-agent.service</c> runs <c>join</c>. Pure text: <see cref="Commands.ServiceCommand"/> writes it and calls
/// systemctl. The data directory is the unit's StateDirectory, which systemd creates and hands to the service's user.
/// </summary>
internal sealed record SystemdUnit
{
    /// <summary>File descriptors of the coordinator: one connection per agent (10,000 agents are measured in docs/benchmarks.md) and the API's clients.</summary>
    public const int CoordinatorOpenFiles = 1_048_576;

    /// <summary>File descriptors of an agent: its link to the coordinator, its stages' links to their neighbours and the model files it maps.</summary>
    public const int AgentOpenFiles = 65_536;

    /// <summary>
    /// Exit statuses after which a restart cannot help: 2, a mistake in the command line or the data directory (no
    /// membership yet and no token, another pool's directory); 3, the pool refused this machine (a used, expired or
    /// revoked token, another pool's CA). Any other failure, a crash or a coordinator not reachable yet (4), restarts.
    /// </summary>
    public const string NoRestartStatuses = "2 3";

    public required ServiceRole Role { get; init; }

    /// <summary>The program and the arguments before tessera's own: <c>[/usr/local/bin/tessera]</c> or <c>[/usr/bin/dotnet, /opt/tessera/tessera.dll]</c>.</summary>
    public required IReadOnlyList<string> Program { get; init; }

    /// <summary>More options of <c>pool start</c> or <c>join</c> (<c>--listen</c>, <c>--name</c>, <c>--cache-limit</c>, ...).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>The account the service runs as; null: a user systemd makes for it (DynamicUser), owning only the data directory.</summary>
    public string? User { get; init; }

    /// <summary>The file of the agent's join token (<c>TESSERA_JOIN_TOKEN=...</c>, readable by root only); optional once the machine has joined.</summary>
    public string EnvironmentFile { get; init; } = "/etc/tessera/tessera-agent.env";

    /// <summary>The version that wrote the unit, in its header.</summary>
    public string WrittenBy { get; init; } = "tessera";

    /// <summary><c>tessera-coordinator</c> or <c>tessera-agent</c>: the unit's name, its state and its data directory's name.</summary>
    public string Name => NameOf(Role);

    public string FileName => Name + ".service";

    /// <summary>The pool's files: /var/lib/NAME (with DynamicUser a link to /var/lib/private/NAME, which systemd keeps).</summary>
    public string DataDirectory => "/var/lib/" + Name;

    public static string NameOf(ServiceRole role) => role == ServiceRole.Coordinator ? "tessera-coordinator" : "tessera-agent";

    /// <summary>The command line systemd runs: the program, <c>pool start</c> or <c>join</c>, the data directory, then <see cref="Arguments"/>.</summary>
    public IReadOnlyList<string> Command()
    {
        IEnumerable<string> command = Role == ServiceRole.Coordinator ? ["pool", "start"] : ["join"];
        return [.. Program, .. command, "--data-dir", DataDirectory, .. Arguments];
    }

    public string Render()
    {
        var coordinator = Role == ServiceRole.Coordinator;
        var unit = new StringBuilder();
        void Line(string text = "") => unit.Append(text).Append('\n');

        Line($"# Written by `tessera service install --role {RoleName(Role)}` ({WrittenBy}); `tessera service uninstall --role {RoleName(Role)}` removes it.");
        Line($"# The pool's files are in {DataDirectory}. Change options with `systemctl edit {Name}`, which keeps them apart from this file.");
        Line("[Unit]");
        Line(coordinator
            ? "Description=Tessera pool coordinator and this machine's agent (tessera pool start)"
            : "Description=Tessera agent: this machine's devices in a pool (tessera join)");
        Line("Wants=network-online.target");
        Line("After=network-online.target");
        Line();
        Line("[Service]");
        Line("Type=exec");
        Line("ExecStart=" + string.Join(' ', Command().Select(Quote)));
        if (!coordinator)
        {
            // The join token is read on the first start only: once joined, the agent starts from the identity saved in its
            // data directory, and a used token is refused anyway. The leading '-' lets the unit start without the file.
            Line("EnvironmentFile=-" + EnvironmentFile);
        }
        Line(User is null ? "DynamicUser=yes" : "User=" + User);
        Line("StateDirectory=" + Name);
        Line("StateDirectoryMode=0700");
        // DynamicUser's home is /, read-only here: .NET unpacks the single file's native libraries (SQLite) into ~/.net.
        Line("Environment=HOME=" + DataDirectory);
        Line("Environment=TESSERA_HOME=" + DataDirectory);
        Line("Restart=on-failure");
        Line("RestartSec=5s");
        Line("RestartPreventExitStatus=" + NoRestartStatuses);
        Line("LimitNOFILE=" + (coordinator ? CoordinatorOpenFiles : AgentOpenFiles).ToString(CultureInfo.InvariantCulture));
        // SIGTERM: the coordinator writes its last heartbeats, an agent closes its streams; both take a second or two.
        Line("TimeoutStopSec=30s");
        Line("NoNewPrivileges=yes");
        Line("ProtectSystem=strict");
        Line("ProtectHome=read-only");
        Line("PrivateTmp=yes");
        Line();
        Line("[Install]");
        Line("WantedBy=multi-user.target");
        return unit.ToString();
    }

    public static string RoleName(ServiceRole role) => role.ToString().ToLowerInvariant();

    /// <summary>
    /// One word of ExecStart as systemd reads it: '%' and '$' doubled (no specifier or variable is meant), and double
    /// quotes around words with spaces, quotes or backslashes.
    /// </summary>
    internal static string Quote(string word)
    {
        var escaped = word.Replace("%", "%%", StringComparison.Ordinal).Replace("$", "$$", StringComparison.Ordinal);
        if (escaped.Length > 0 && !escaped.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'' or '\\' or ';'))
            return escaped;
        return "\"" + escaped.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }
}
