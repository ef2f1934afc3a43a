using Tessera.Tests.Pool;

namespace Tessera.Tests.Security;

/// <summary>Two coordinators on one data directory would corrupt the pool: the second is refused while the first runs.</summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class DataDirectoryProcessTests
{
    [Fact]
    public async Task ASecondCoordinatorOnTheSameDataDirectory_ExitsWithAClearError_AndTheFirstKeepsServing()
    {
        using var pool = new PoolTestHarness();
        var first = await pool.StartCoordinatorAsync("--no-agent");

        var (exitCode, _, stderr) = await TesseraProcess.RunAsync(["pool", "start", "--data-dir", pool.CoordinatorDir, "--no-agent"], TimeSpan.FromSeconds(60));

        Assert.Equal(2, exitCode);
        Assert.Contains($"Another coordinator (process {first.Id}) is running on {pool.CoordinatorDir}", stderr);
        using var api = pool.Api();
        Assert.Equal("ok", (await api.GetHealthAsync(CancellationToken.None)).Status);
    }
}
