namespace Tessera.Pool.Tests;

public sealed class BuildVersionTests
{
    [Fact]
    public void InformationalVersion_WithSourceLinksCommit_SplitsIntoVersionAndShortCommit()
    {
        var (version, commit) = BuildVersion.Split("0.1.0+fa25356c1bd5f35d254bf34dba3e371f494f8ddb");

        Assert.Equal("0.1.0", version);
        Assert.Equal("fa25356", commit);
    }

    [Fact]
    public void InformationalVersion_BuiltOutsideGit_HasNoCommit()
    {
        Assert.Equal(("0.1.0", (string?)null), BuildVersion.Split("0.1.0"));
    }

    [Fact]
    public void InformationalVersion_WithMetadataThatIsNoCommit_KeepsThePrereleaseAndDropsTheMetadata()
    {
        Assert.Equal(("0.2.0-rc.1", (string?)null), BuildVersion.Split("0.2.0-rc.1+build.5"));
    }

    [Fact]
    public void ThisBuild_ReportsTheVersionOfDirectoryBuildProps_WithItsCommit()
    {
        Assert.Matches(@"^\d+\.\d+\.\d+", BuildVersion.Version);
        Assert.StartsWith(BuildVersion.Version, BuildVersion.Full, StringComparison.Ordinal);
        Assert.StartsWith("tessera " + BuildVersion.Version + " (commit ", BuildVersion.Describe(), StringComparison.Ordinal);
    }
}
