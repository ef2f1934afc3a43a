namespace Tessera.Cli.Commands;

/// <summary>
/// The command line that runs this same tessera again, for the commands that start copies of it (demo, chaos, pool
/// bench-heartbeats) and for the service units that start it at boot: the executable itself (a single file or the
/// apphost), or <c>dotnet tessera.dll</c> when it was started through the dotnet host.
/// </summary>
internal static class SelfCommand
{
    /// <summary>The program and the arguments that come before tessera's own, e.g. <c>[/usr/local/bin/tessera]</c>.</summary>
    public static IReadOnlyList<string> Prefix()
    {
        var host = Environment.ProcessPath ?? "dotnet";
        if (!Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            return [host];
        // Not Assembly.Location: a single-file bundle has none (and is never started through dotnet anyway).
        return [host, Path.Combine(AppContext.BaseDirectory, typeof(SelfCommand).Assembly.GetName().Name + ".dll")];
    }
}
