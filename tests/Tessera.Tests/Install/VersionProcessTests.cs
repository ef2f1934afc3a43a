using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Tessera.Testing;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Install;

/// <summary><c>tessera version</c>: the version set once in Directory.Build.props, and the commit the build came from.</summary>
[Trait("Category", "Process")]
public sealed partial class VersionProcessTests
{
    [Fact]
    public async Task Version_PrintsTheVersionOfDirectoryBuildProps_TheCommitOfThisRepository_TheRuntimeAndThePlatform()
    {
        var (code, stdout, stderr) = await TesseraProcess.RunAsync(["version"], TimeSpan.FromSeconds(30));

        Assert.True(code == 0, stderr);
        var line = VersionLine().Match(stdout.Trim());
        Assert.True(line.Success, $"'{stdout.Trim()}' is not 'tessera VERSION (commit ABCDEF1, .NET X.Y.Z, RID)'");
        Assert.Equal(ExpectedVersion(), line.Groups["version"].Value);
        Assert.Equal(Environment.Version.ToString(), line.Groups["runtime"].Value);
        Assert.Equal(RuntimeInformation.RuntimeIdentifier, line.Groups["rid"].Value);
        // Built in a checkout, the commit is one of its commits (not necessarily HEAD: one made after the build is not in it).
        if (await GitAsync("rev-parse", "--is-inside-work-tree") is "true")
            Assert.Equal("commit", await GitAsync("cat-file", "-t", line.Groups["commit"].Value));
        else
            Assert.Equal("unknown, built outside git", line.Groups["commit"].Value);
    }

    /// <summary>VersionPrefix of Directory.Build.props: the one place the version is written.</summary>
    internal static string ExpectedVersion() =>
        VersionPrefix().Match(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Directory.Build.props"))).Groups[1].Value;

    /// <summary>git's answer in the repository, or null where git is missing or fails.</summary>
    private static async Task<string?> GitAsync(params string[] args)
    {
        try
        {
            var (code, stdout, _, _) = await ExternalProgram.RunAsync("git", args, TimeSpan.FromSeconds(30), workingDirectory: TestPaths.RepoRoot);
            return code == 0 ? stdout.Trim() : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^tessera (?<version>\d+\.\d+\.\d+\S*) \(commit (?<commit>[0-9a-f]{7}|unknown, built outside git), \.NET (?<runtime>[0-9.]+), (?<rid>[^)]+)\)$")]
    internal static partial Regex VersionLine();

    [GeneratedRegex(@"<VersionPrefix>([^<]+)</VersionPrefix>")]
    private static partial Regex VersionPrefix();
}
