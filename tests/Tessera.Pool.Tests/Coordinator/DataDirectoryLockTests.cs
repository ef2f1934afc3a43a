using Tessera.Pool.Coordinator;

namespace Tessera.Pool.Tests.Coordinator;

public sealed class DataDirectoryLockTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-lock-");

    [Fact]
    public void ASecondHolder_IsRefused_NamingTheFirstsProcess_AndMayHoldItOnceTheFirstLetsGo()
    {
        var directory = new PoolDataDirectory(_dir.FullName);

        using (DataDirectoryLock.Acquire(directory))
        {
            var error = Assert.Throws<PoolException>(() => DataDirectoryLock.Acquire(directory));
            Assert.Contains($"Another coordinator (process {Environment.ProcessId}) is running on {_dir.FullName}", error.Message);
            Assert.Equal(2, error.ExitCode);
        }

        using var again = DataDirectoryLock.Acquire(directory);
        Assert.True(File.Exists(Path.Combine(_dir.FullName, "coordinator.pid")));
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
