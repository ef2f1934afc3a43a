using System.Diagnostics;

namespace Tessera.Tests.Pool;

/// <summary>A test that needs Linux network namespaces: skipped, with the reason, when not root, without `ip`, or when namespaces cannot be created.</summary>
public sealed class NetworkNamespaceFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Reason = new(Probe);

    public NetworkNamespaceFactAttribute()
    {
        if (Reason.Value is { } reason)
            Skip = reason;
    }

    /// <summary>Why namespace tests are skipped here, or null when they run (fixtures check it before building networks).</summary>
    public static string? SkipReason => Reason.Value;

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
            return "network namespaces need Linux";
        if (Environment.UserName != "root" && Environment.GetEnvironmentVariable("USER") != "root")
            return "network namespaces need root (CI runs as root)";
        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip") && !File.Exists("/bin/ip"))
            return "the `ip` tool (iproute2) is not installed";
        var name = "tsr-probe-" + Environment.ProcessId;
        var (ok, error) = Run("ip", "netns", "add", name);
        Run("ip", "netns", "del", name);
        return ok ? null : "cannot create a network namespace here: " + error;
    }

    internal static (bool Ok, string Error) Run(params string[] args)
    {
        var start = new ProcessStartInfo(args[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args.Skip(1))
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit(10_000);
        return (process.ExitCode == 0, error.Trim());
    }
}
