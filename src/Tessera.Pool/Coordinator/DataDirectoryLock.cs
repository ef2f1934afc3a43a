using System.Globalization;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// Held while a coordinator runs on a data directory: two coordinators on one directory would both write pool.db,
/// sign with one CA and hand out conflicting state. An operating-system lock on <c>coordinator.lock</c>, which the
/// system releases when the process ends however it ends, so a crash never leaves it stale. The holder's process
/// id is written beside it (<c>coordinator.pid</c>) so the refusal can name it.
/// </summary>
public sealed class DataDirectoryLock : IDisposable
{
    private readonly FileStream _lock;
    private readonly string _pidPath;

    private DataDirectoryLock(FileStream held, string pidPath)
    {
        _lock = held;
        _pidPath = pidPath;
    }

    /// <exception cref="PoolException">Another coordinator holds the directory; the message names its process.</exception>
    public static DataDirectoryLock Acquire(PoolDataDirectory directory)
    {
        directory.EnsureExists();
        var path = Path.Combine(directory.Root, "coordinator.lock");
        var pidPath = Path.Combine(directory.Root, "coordinator.pid");
        FileStream held;
        try
        {
            held = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            var holder = ReadPid(pidPath);
            throw new PoolException(
                $"Another coordinator{(holder is { } pid ? $" (process {pid})" : "")} is running on {directory.Root}: two on one data directory would corrupt the pool. " +
                "Stop it first, or start this one with another --data-dir.", exitCode: 2, inner: ex);
        }
        File.WriteAllText(pidPath, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        return new DataDirectoryLock(held, pidPath);
    }

    private static int? ReadPid(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        try
        {
            File.Delete(_pidPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        _lock.Dispose();
    }
}
