using System.Reflection;
using System.Runtime.InteropServices;

namespace Tessera.Pool;

/// <summary>
/// This build's version and commit, read from the informational version the SDK writes into every assembly
/// (<c>0.1.0+COMMIT</c>: the VersionPrefix of Directory.Build.props, then the git commit Source Link found). One reader, so
/// <c>tessera version</c> and the version agents report to the coordinator never disagree.
/// </summary>
public static class BuildVersion
{
    private static readonly string Informational =
        typeof(BuildVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    /// <summary>The version without build metadata, e.g. <c>0.1.0</c> or <c>0.2.0-rc.1</c>.</summary>
    public static string Version => Split(Informational).Version;

    /// <summary>The commit the build came from (7 hex digits, as <c>git log --oneline</c> shows it), or null when it was built outside a git checkout.</summary>
    public static string? Commit => Split(Informational).Commit;

    /// <summary>The version with the commit when known, e.g. <c>0.1.0+fa25356</c>: what an agent reports.</summary>
    public static string Full => Commit is { } commit ? $"{Version}+{commit}" : Version;

    /// <summary>One line for people: <c>tessera 0.1.0 (commit fa25356, .NET 10.0.12, linux-x64)</c>.</summary>
    public static string Describe() =>
        $"tessera {Version} (commit {Commit ?? "unknown, built outside git"}, .NET {Environment.Version}, {RuntimeInformation.RuntimeIdentifier})";

    /// <summary>Splits <c>VERSION+METADATA</c>; the metadata is the commit when it is hex (Source Link's), else ignored.</summary>
    internal static (string Version, string? Commit) Split(string informational)
    {
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        if (plus < 0)
            return (informational, null);
        var metadata = informational[(plus + 1)..];
        var isCommit = metadata.Length >= 7 && metadata.All(Uri.IsHexDigit);
        return (informational[..plus], isCommit ? metadata[..7].ToLowerInvariant() : null);
    }
}
