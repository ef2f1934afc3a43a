using System.Diagnostics;
using System.Text;

namespace Tessera.Tests.Install;

/// <summary>A program other than tessera.dll (git, systemd-analyze, bash, a published single file), its output captured.</summary>
internal sealed class ExternalProgram : IDisposable
{
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private ExternalProgram(Process process, string description)
    {
        Process = process;
        Description = description;
    }

    public Process Process { get; }

    public string Description { get; }

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>What it was, how it ended and all it wrote, for a failure's message.</summary>
    public string Output =>
        $"{Description} exited {(Process.HasExited ? Process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "(running)")}\n{Stdout}\n{Stderr}";

    public static ExternalProgram Start(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
            start.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        if (workingDirectory is not null)
            start.WorkingDirectory = workingDirectory;
        var started = new ExternalProgram(new Process { StartInfo = start }, program + " " + string.Join(' ', start.ArgumentList));
        started.Process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (started._stdout) started._stdout.AppendLine(e.Data); };
        started.Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (started._stderr) started._stderr.AppendLine(e.Data); };
        started.Process.Start();
        started.Process.BeginOutputReadLine();
        started.Process.BeginErrorReadLine();
        return started;
    }

    /// <summary>Runs to the end; kills it and throws after <paramref name="timeout"/>.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr, string Output)> RunAsync(string program, IEnumerable<string> args, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        using var run = Start(program, args, environment, workingDirectory);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await run.Process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            run.Process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{run.Description} did not finish within {timeout}:\n{run.Output}");
        }
        run.Process.WaitForExit(); // the end of the output too
        return (run.Process.ExitCode, run.Stdout, run.Stderr, run.Output);
    }

    /// <summary>SIGTERM, as systemd stops a service; SIGKILL after <paramref name="timeout"/>.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (Process.HasExited)
            return;
        using (var term = System.Diagnostics.Process.Start("kill", ["-TERM", Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await term.WaitForExitAsync();
        if (!Process.WaitForExit(timeout))
            Process.Kill(entireProcessTree: true);
        Process.WaitForExit(); // the end of the output too, which the timed wait does not wait for
    }

    public void Dispose()
    {
        if (!Process.HasExited)
            Process.Kill(entireProcessTree: true);
        Process.Dispose();
    }
}
