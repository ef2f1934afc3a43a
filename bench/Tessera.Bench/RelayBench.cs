using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Tessera.Deploy;
using Tessera.Pool.Protocol;
using Tessera.Serving;

namespace Tessera.Bench;

/// <summary>
/// What the coordinator's relay adds to a hop (machines behind NAT): a link probe on loopback measured directly and
/// through a <see cref="StageRelay"/> whose dial-backs a <see cref="RelayDialer"/> answers, in alternating rounds.
/// The probe speaks the stage transport (gRPC over HTTP/2), so the echo round trip is what a token's hop pays.
/// Usage: <c>dotnet run -c Release --project bench/Tessera.Bench -- relay [rounds=7] [echoes=200] [push-mib=64]</c>.
/// </summary>
internal static class RelayBench
{
    public static void Run(string[] args) => RunAsync(args).GetAwaiter().GetResult();

    private static async Task RunAsync(string[] args)
    {
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 7;
        var echoes = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 200;
        var pushMiB = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 64;
        await using var probe = await LinkProbeServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), tls: null);
        var port = probe.Endpoint.Port;
        await using var dialer = new RelayDialer("127.0.0.1:1", p => p == port, NullLogger.Instance);
        await using var relay = new StageRelay(new LocalAgent(dialer), () => IPAddress.Loopback, () => "127.0.0.1:1", NullLogger.Instance);
        var direct = probe.Endpoint.ToString();
        var relayed = relay.Through("node", direct);
        var budget = LinkProbeBudget.Default with { Echoes = echoes, EchoInterval = TimeSpan.FromMilliseconds(1), PushBytes = (long)pushMiB << 20, Timeout = TimeSpan.FromMinutes(2) };

        var results = new Dictionary<string, List<LinkMeasurement>> { ["direct"] = [], ["relayed"] = [] };
        for (var r = 0; r < rounds; r++)
        {
            foreach (var (name, endpoint) in r % 2 == 0 ? new[] { ("direct", direct), ("relayed", relayed) } : [("relayed", relayed), ("direct", direct)])
            {
                var m = await LinkMeasurer.MeasureAsync(endpoint, null, budget);
                if (!m.Reachable)
                    throw new InvalidOperationException($"{name}: {m.Error}");
                results[name].Add(m);
            }
        }
        Console.WriteLine($"relay bench: {rounds} alternating rounds, {echoes} echoes 1 ms apart and {pushMiB} MiB pushed per measurement, loopback, h2c");
        Console.WriteLine("path      RTT p50 ms  RTT p99 ms  MB/s (medians over rounds)");
        foreach (var (name, list) in results)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-9} {Median(list.Select(m => m.RttP50Ms)),10:F3}  {Median(list.Select(m => m.RttP99Ms)),10:F3}  {Median(list.Select(m => m.BandwidthBytesPerSecond / 1e6)),8:F0}"));
        }
        var added = results["relayed"].Zip(results["direct"], (a, b) => a.RttP50Ms - b.RttP50Ms).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"relay adds {Median(added):F3} ms to the median round trip (median of per-round differences)"));
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>The control stream stood in for: a relay's command reaches the agent's handler directly.</summary>
    private sealed class LocalAgent(RelayDialer dialer) : IAgentCommands
    {
        public bool TrySend(string nodeId, Command command)
        {
            _ = dialer.HandleAsync(command, CancellationToken.None);
            return true;
        }
    }
}
