using System.CommandLine;
using System.Diagnostics;
using Tessera.Pool.Agent;
using Tessera.Pool.Bench;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera pool bench-heartbeats</c>: many simulated agents against one coordinator (a child process), bounded in count and time.</summary>
internal static class PoolBenchCommand
{
    public static Command Create()
    {
        var agents = new Option<int>("--agents") { Description = "Number of simulated agents (1..20000); each needs an open file here and one in the coordinator (ulimit -n).", DefaultValueFactory = _ => 1000 };
        var seconds = new Option<int>("--seconds") { Description = "Length of the measured window (1..600).", DefaultValueFactory = _ => 30 };
        var transport = new Option<string>("--transport") { Description = "How the simulated agents reach the coordinator: control (the control link, as agents do) or grpc (the gRPC Connect stream over HTTP/2).", DefaultValueFactory = _ => "control" };
        transport.AcceptOnlyFromAmong("control", "grpc");
        var command = new Command("bench-heartbeats", "Benchmark: simulated agents speaking the real protocol (join, mutual TLS, 1 heartbeat/s) against a coordinator; reports its CPU, memory and heartbeat latency.");
        command.Options.Add(agents);
        command.Options.Add(seconds);
        command.Options.Add(transport);
        command.SetAction((result, cancellationToken) => PoolCli.RunAsync(async () =>
        {
            var count = Math.Clamp(result.GetValue(agents), 1, 20000);
            var duration = TimeSpan.FromSeconds(Math.Clamp(result.GetValue(seconds), 1, 600));
            var dir = Directory.CreateTempSubdirectory("tessera-bench-").FullName;
            try
            {
                var start = SelfStartInfo(["pool", "start", "--no-agent", "--listen", "127.0.0.1:0", "--data-dir", dir, "--speed-probe-mb", "0"]);
                var outcome = await HeartbeatBench.RunAsync(new HeartbeatBenchOptions { Agents = count, Duration = duration, Transport = result.GetValue(transport) == "grpc" ? AgentTransport.Grpc : AgentTransport.Control }, start, dir, Console.WriteLine, cancellationToken).ConfigureAwait(false);
                Console.WriteLine();
                Console.WriteLine($"Pool heartbeat benchmark, {result.GetValue(transport)} transport, on {Environment.ProcessorCount} cores ({System.Runtime.InteropServices.RuntimeInformation.OSDescription}):");
                Console.WriteLine("| measure | value |");
                Console.WriteLine("| --- | --- |");
                Console.Write(outcome.ToMarkdown());
                return 0;
            }
            finally
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }));
        return command;
    }

    /// <summary>A command line that runs this same tessera (apphost or `dotnet tessera.dll`).</summary>
    private static ProcessStartInfo SelfStartInfo(IEnumerable<string> args)
    {
        var self = SelfCommand.Prefix();
        var start = new ProcessStartInfo(self[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in self.Skip(1))
            start.ArgumentList.Add(a);
        foreach (var a in args)
            start.ArgumentList.Add(a);
        return start;
    }
}
