using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using Tessera.Pool;
using Tessera.Pool.Client;
using Tessera.Pool.Coordinator;
using Tessera.Testing;

namespace Tessera.Tests.Install;

/// <summary>
/// scripts/publish.sh for this machine's platform, and the file it makes run on their own: <c>tessera version</c>, and a
/// coordinator that creates its SQLite database (whose native library rides inside the file). Opt-in: a publish builds
/// every project again for one platform, minutes on a small machine.
/// </summary>
[Trait("Category", "Process")]
public sealed class SingleFilePublishProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tessera-publish-").FullName;

    /// <summary>The single file's native libraries unpack into this test's folder, not ~/.net.</summary>
    private Dictionary<string, string> Unpacking => new() { ["DOTNET_BUNDLE_EXTRACT_BASE_DIR"] = Path.Combine(_dir, "extract") };

    [SingleFilePublishFact]
    public async Task Publish_ForThisPlatform_MakesOneFileThatPrintsItsVersionAndRunsACoordinatorWithItsDatabase()
    {
        var rid = RuntimeInformation.RuntimeIdentifier;
        var release = Path.Combine(_dir, "release");

        var publish = await ExternalProgram.RunAsync("bash", [Path.Combine(TestPaths.RepoRoot, "scripts", "publish.sh"), "--out", release, rid], TimeSpan.FromMinutes(20));

        Assert.True(publish.ExitCode == 0, publish.Output);
        var file = Path.Combine(release, $"tessera-{VersionProcessTests.ExpectedVersion()}-{rid}");
        Assert.Equal([file], Directory.GetFiles(release).Where(f => !f.EndsWith("SHA256SUMS", StringComparison.Ordinal)));
        Assert.Contains(Path.GetFileName(file), File.ReadAllText(Path.Combine(release, "SHA256SUMS")));

        // Copied alone into an empty folder, as a user would install it.
        var installed = Path.Combine(Directory.CreateDirectory(Path.Combine(_dir, "bin")).FullName, "tessera");
        File.Copy(file, installed);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(installed, File.GetUnixFileMode(file));
        var version = await ExternalProgram.RunAsync(installed, ["version"], TimeSpan.FromSeconds(30), Unpacking);
        Assert.True(version.ExitCode == 0, version.Output);
        Assert.Matches(VersionProcessTests.VersionLine(), version.Stdout.Trim());
        Assert.Contains($"tessera {VersionProcessTests.ExpectedVersion()} ", version.Stdout, StringComparison.Ordinal);

        var data = Path.Combine(_dir, "data");
        using var coordinator = ExternalProgram.Start(installed, ["pool", "start", "--no-agent", "--listen", "127.0.0.1:0", "--data-dir", data], Unpacking);
        try
        {
            var info = await WaitForCoordinatorAsync(coordinator, new PoolDataDirectory(data).CoordinatorInfo, TimeSpan.FromSeconds(60));
            using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
            using var http = new HttpClient(handler) { BaseAddress = new Uri(info.ApiUrl) };
            var health = await http.GetFromJsonAsync<HealthView>("/api/health");
            Assert.Equal(info.PoolId, health!.PoolId);
            Assert.True(File.Exists(Path.Combine(data, "pool.db")));
            // The OpenAPI document is generated at request time, by reflection over the endpoints: it works in the single file too.
            Assert.Contains("\"/api/nodes\"", await http.GetStringAsync(CoordinatorOpenApi.Path), StringComparison.Ordinal);
        }
        finally
        {
            await coordinator.StopAsync(TimeSpan.FromSeconds(15));
        }
        Assert.Contains("the pool's state is in", coordinator.Stdout, StringComparison.Ordinal);
    }

    private static async Task<CoordinatorInfo> WaitForCoordinatorAsync(ExternalProgram coordinator, string infoPath, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            Assert.False(coordinator.Process.HasExited, coordinator.Output);
            if (coordinator.Stdout.Contains("is running", StringComparison.Ordinal) && CoordinatorInfo.TryLoad(infoPath) is { } info)
                return info;
            await Task.Delay(100);
        }
        throw new TimeoutException($"The coordinator did not start within {timeout}:\n{coordinator.Output}");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Runs only where asked (TESSERA_TEST_PUBLISH=1) and where the publish script can run.</summary>
public sealed class SingleFilePublishFactAttribute : FactAttribute
{
    public const string Variable = "TESSERA_TEST_PUBLISH";

    public SingleFilePublishFactAttribute()
    {
        if (Environment.GetEnvironmentVariable(Variable) != "1")
            Skip = $"Publishing a single file builds every project again for one platform (minutes); set {Variable}=1 to run it.";
        else if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            Skip = "scripts/publish.sh is a bash script; this test runs on Linux and macOS.";
    }
}
