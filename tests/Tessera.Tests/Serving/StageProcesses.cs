using System.Text.RegularExpressions;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Serving;

/// <summary>Stage hosts as separate `tessera stage serve` processes on loopback ports they choose themselves.</summary>
internal sealed partial class StageProcesses : IDisposable
{
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(40);

    private StageProcesses(List<TesseraProcess> processes, List<string> endpoints)
    {
        Processes = processes;
        Endpoints = endpoints;
    }

    public List<TesseraProcess> Processes { get; }

    public List<string> Endpoints { get; }

    public string Output => string.Join("\n", Processes.Select(p => p.Output));

    public static async Task<StageProcesses> StartAsync(string model, string activations, params string[] ranges)
    {
        var processes = ranges.Select(range => TesseraProcess.Start(
            ["stage", "serve", "--model", model, "--layers", range, "--listen", "127.0.0.1:0", "--activations", activations, "--threads", "1", "--context", "512", "--plaintext"])).ToList();
        try
        {
            var endpoints = new List<string>();
            foreach (var p in processes)
            {
                await p.WaitForStdoutAsync("listening on", Ready);
                endpoints.Add(Listening().Match(p.Stdout).Groups[1].Value);
            }
            return new StageProcesses(processes, endpoints);
        }
        catch
        {
            foreach (var p in processes)
                p.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var p in Processes)
            p.Dispose();
    }

    [GeneratedRegex(@"listening on (127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();
}
