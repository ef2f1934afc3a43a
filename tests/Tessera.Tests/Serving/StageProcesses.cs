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

    public static Task<StageProcesses> StartAsync(string model, string activations, params string[] ranges) =>
        StartOnDevicesAsync(model, activations, ranges.Select(r => (r, "cpu")).ToArray());

    /// <summary>Stages of the given layer ranges, each computing on its device (<c>cpu</c>, <c>stand-in</c>, <c>gpu0</c>).</summary>
    public static async Task<StageProcesses> StartOnDevicesAsync(string model, string activations, (string Range, string Device)[] stages)
    {
        var processes = stages.Select(stage => TesseraProcess.Start(
            ["stage", "serve", "--model", model, "--layers", stage.Range, "--device", stage.Device, "--listen", "127.0.0.1:0", "--activations", activations,
                "--threads", "1", "--context", "512", "--plaintext"])).ToList();
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
