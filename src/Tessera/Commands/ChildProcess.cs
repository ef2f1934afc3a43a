using System.Diagnostics;
using Tessera.Pool;
using Tessera.Pool.Client;

namespace Tessera.Cli.Commands;

/// <summary>
/// A child <c>tessera</c> process (this same executable) whose output is appended to a log file, for the commands that
/// run a whole pool on this machine (demo, chaos): started, stopped gracefully (SIGTERM, then SIGKILL), or killed
/// outright (SIGKILL, as a crash would).
/// </summary>
internal sealed class ChildProcess
{
    private readonly Process _process;
    private readonly Task _pump;

    private ChildProcess(string name, Process process, string logPath, Task pump)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
        _pump = pump;
    }

    public string Name { get; }

    public string LogPath { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>
    /// Starts <c>tessera ARGUMENTS</c>; its output goes to <c>LOGDIRECTORY/NAME.log</c>, appended so a restarted child keeps
    /// its history. Secrets go in <paramref name="environment"/>, never in the arguments (which every user sees in ps).
    /// With <paramref name="networkNamespace"/> it runs inside that namespace (<c>ip netns exec</c>, which execs in place,
    /// so <see cref="Id"/> is still the tessera process's: signals reach it).
    /// </summary>
    public static ChildProcess Start(string name, string logDirectory, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null,
        string? networkNamespace = null)
    {
        var start = new ProcessStartInfo { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            start.Environment[key] = value;
        var self = SelfCommand.Prefix();
        start.FileName = self[0];
        if (networkNamespace is not null)
        {
            start.FileName = "ip";
            foreach (var a in new[] { "netns", "exec", networkNamespace, self[0] })
                start.ArgumentList.Add(a);
        }
        foreach (var a in self.Skip(1))
            start.ArgumentList.Add(a);
        foreach (var a in arguments)
            start.ArgumentList.Add(a);
        Directory.CreateDirectory(logDirectory);
        var logPath = Path.Combine(logDirectory, name + ".log");
        var process = Process.Start(start) ?? throw new PoolException($"Cannot start {self[0]}.");
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        var pump = Task.WhenAll(Pump(process.StandardOutput, log), Pump(process.StandardError, log)).ContinueWith(_ => log.Dispose(), TaskScheduler.Default);
        return new ChildProcess(name, process, logPath, pump);
    }

    private static async Task Pump(StreamReader reader, StreamWriter log)
    {
        string? line;
        while ((line = await reader.ReadLineAsync().ConfigureAwait(false)) is not null)
        {
            lock (log)
                log.WriteLine(line);
        }
    }

    /// <summary>
    /// For a child that is a coordinator on <paramref name="dir"/>: waits until it has written its coordinator.json (this
    /// process's, not one left by an earlier run) and its API answers; returns an admin client of it.
    /// </summary>
    public async Task<PoolApiClient> WaitForCoordinatorAsync(PoolDataDirectory dir, TimeSpan timeout, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            token.ThrowIfCancellationRequested();
            if (HasExited)
                throw new PoolException($"The coordinator exited early; see {LogPath}.");
            if (File.Exists(dir.AdminKey) && CoordinatorInfo.TryLoad(dir.CoordinatorInfo)?.Pid == Id)
            {
                var client = PoolApiClient.Create(dir, null, null, TimeProvider.System);
                try
                {
                    await client.GetHealthAsync(token).ConfigureAwait(false);
                    return client;
                }
                catch (PoolException)
                {
                    client.Dispose();
                }
            }
            if (clock.Elapsed > timeout)
                throw new PoolException($"The coordinator did not start within {timeout.TotalSeconds:0} s; see {LogPath}.");
            await Task.Delay(100, token).ConfigureAwait(false);
        }
    }

    /// <summary>SIGKILL, as a crash or a pulled plug would end it: no cleanup, sockets closed by the kernel.</summary>
    public async Task KillAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // exited already
        }
        await _pump.ConfigureAwait(false);
        _process.Dispose();
    }

    /// <summary>SIGTERM and up to 10 s to exit (agents close their streams, the coordinator writes its state), then SIGKILL.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                    await term.WaitForExitAsync().ConfigureAwait(false);
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        await _pump.ConfigureAwait(false);
        _process.Dispose();
    }
}
