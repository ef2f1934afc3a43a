using System.Diagnostics;
using System.Text;

namespace Tessera.Tests.Pool;

/// <summary>A real `tessera` process (dotnet tessera.dll ...), optionally inside a network namespace, with its output captured.</summary>
internal sealed class TesseraProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _lock = new();

    private TesseraProcess(Process process, string description)
    {
        _process = process;
        Description = description;
    }

    public string Description { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public static string TesseraDll => Path.Combine(AppContext.BaseDirectory, "tessera.dll");

    /// <param name="environment">Variables to set (or, with a null value, remove) for the process.</param>
    public static TesseraProcess Start(IEnumerable<string> arguments, string? networkNamespace = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var args = arguments.ToList();
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (networkNamespace is not null)
        {
            start.FileName = "ip";
            foreach (var a in new[] { "netns", "exec", networkNamespace, "dotnet", TesseraDll })
                start.ArgumentList.Add(a);
        }
        else
        {
            start.FileName = "dotnet";
            start.ArgumentList.Add(TesseraDll);
        }
        foreach (var a in args)
            start.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
                start.Environment.Remove(name);
            else
                start.Environment[name] = value;
        }
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var result = new TesseraProcess(process, string.Join(' ', args.Take(2)));
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (result._lock) result._stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (result._lock) result._stderr.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    /// <summary>Runs a command to completion and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IEnumerable<string> arguments, TimeSpan timeout, string? networkNamespace = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        using var process = Start(arguments, networkNamespace, environment);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process._process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"tessera {process.Description} did not finish in {timeout}. Output:\n{process.Output}");
        }
        return (process._process.ExitCode, process.Stdout, process.Stderr);
    }

    public string Stdout { get { lock (_lock) return _stdout.ToString(); } }

    public string Stderr { get { lock (_lock) return _stderr.ToString(); } }

    public string Output => $"--- stdout of {Description}\n{Stdout}\n--- stderr\n{Stderr}";

    public Task WaitForStdoutAsync(string text, TimeSpan timeout) => WaitForAsync(() => Stdout, text, timeout);

    /// <summary>Waits for <paramref name="text"/> on stderr, where logs go.</summary>
    public Task WaitForStderrAsync(string text, TimeSpan timeout) => WaitForAsync(() => Stderr, text, timeout);

    private async Task WaitForAsync(Func<string> output, string text, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (!output().Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited)
            {
                _process.WaitForExit(); // the output read asynchronously may still be arriving: drain it before deciding
                if (output().Contains(text, StringComparison.Ordinal))
                    return;
                throw new InvalidOperationException($"tessera {Description} exited ({_process.ExitCode}) before printing '{text}'.\n{Output}");
            }
            if (deadline.Elapsed > timeout)
                throw new TimeoutException($"tessera {Description} did not print '{text}' within {timeout}.\n{Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>kill -9 (SIGKILL), as a crash would.</summary>
    public void Kill()
    {
        if (_process.HasExited)
            return;
        try
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>SIGTERM and wait, as a service manager would stop it.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (_process.HasExited)
            return;
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
