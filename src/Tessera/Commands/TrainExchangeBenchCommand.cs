using Tessera.Training;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Tessera.Pool;
using Tessera.Training.Pool.Exchange;

namespace Tessera.Cli.Commands;

/// <summary>
/// <c>tessera train bench-exchange</c>: how long one exchange of a parameter change takes among N worker processes, as a
/// reduce through the coordinator (a star) and as a ring all-reduce, over mutual TLS on loopback or on network-namespace
/// hosts whose links are shaped (tbf) to a rate, with an optional one-way delay a message. Each run spawns this same
/// tessera as the coordinator and the workers (the hidden --role), drives them over a plain control socket, and
/// reports the median wall time of the exchange and the bytes each end sent and received.
/// </summary>
internal static class TrainExchangeBenchCommand
{
    private const string Coordinator = "coordinator";

    public static Command Create()
    {
        var workers = new Option<string>("--workers") { Description = "Worker counts to measure, comma-separated (2..64 each).", DefaultValueFactory = _ => "2,4,8" };
        var parameters = new Option<int>("--parameters") { Description = "Parameters in the exchanged change (a multiple of 32; 32..100000000).", DefaultValueFactory = _ => 9_000_000 };
        var formats = new Option<string>("--format") { Description = "Encodings to measure, comma-separated: f32, f16, int8 (Q8_0 blocks of 32 with an f16 scale).", DefaultValueFactory = _ => "f16,int8" };
        var topologies = new Option<string>("--topology") { Description = "Topologies to measure, comma-separated: star (reduce through the coordinator), ring (ring all-reduce).", DefaultValueFactory = _ => "star,ring" };
        var repeat = new Option<int>("--repeat") { Description = "Measured exchanges a case, after one warm-up exchange of 1/16 of the parameters (1..20).", DefaultValueFactory = _ => 3 };
        var hosts = new Option<string>("--hosts") { Description = "loopback (every process on 127.0.0.x) or namespaces (each process a network-namespace host on a bridge; needs root).", DefaultValueFactory = _ => "loopback" };
        hosts.AcceptOnlyFromAmong("loopback", "namespaces");
        var mbit = new Option<double>("--mbit") { Description = "With --hosts namespaces: every worker's link rate, each way, in Mbit/s (0: unshaped).", DefaultValueFactory = _ => 100 };
        var coordinatorMbit = new Option<double?>("--coordinator-mbit") { Description = "With --hosts namespaces: the coordinator's link rate (default: as --mbit)." };
        var delayMs = new Option<double>("--delay-ms") { Description = "One-way delay every message waits before it goes, in ms (emulated in the sender: this kernel has no netem).", DefaultValueFactory = _ => 0 };
        var role = new Option<string?>("--role") { Hidden = true };
        var rank = new Option<int>("--rank") { Hidden = true };
        var dir = new Option<string?>("--dir") { Hidden = true };
        var control = new Option<string?>("--control") { Hidden = true };
        var endpoints = new Option<string?>("--endpoints") { Hidden = true };
        var command = new Command("bench-exchange", "Benchmark: one exchange of a parameter change among N worker processes over mutual TLS, as a reduce through the coordinator and as a ring all-reduce; on loopback or on shaped network-namespace links.");
        foreach (var option in new Option[] { workers, parameters, formats, topologies, repeat, hosts, mbit, coordinatorMbit, delayMs, role, rank, dir, control, endpoints })
            command.Options.Add(option);
        command.SetAction((result, cancellationToken) => PoolCli.RunAsync(async () =>
        {
            var count = result.GetValue(parameters);
            if (count is < DeltaCodec.Int8BlockSize or > 100_000_000 || count % DeltaCodec.Int8BlockSize != 0)
                throw new PoolException("--parameters must be a multiple of 32 from 32 to 100000000.");
            var delay = TimeSpan.FromMilliseconds(Math.Clamp(result.GetValue(delayMs), 0, 10_000));
            if (result.GetValue(role) is { } childRole)
            {
                var child = new ChildSpec(childRole, result.GetValue(rank), result.GetValue(dir)!, Parse(result.GetValue(control)!), [.. result.GetValue(endpoints)!.Split(',').Select(Parse)], count, delay);
                return await RunChildAsync(child, cancellationToken).ConfigureAwait(false);
            }
            var bench = new BenchSpec(
                CommandPath(result),
                [.. List(result.GetValue(workers)!).Select(w => Math.Clamp(int.Parse(w, CultureInfo.InvariantCulture), 2, 64))],
                [.. List(result.GetValue(formats)!).Select(DeltaCodec.Parse)],
                [.. List(result.GetValue(topologies)!).Select(t => t is "star" or "ring" ? t : throw new PoolException($"Unknown topology {t}: star or ring."))],
                count, Math.Clamp(result.GetValue(repeat), 1, 20), result.GetValue(hosts) == "namespaces", result.GetValue(mbit), result.GetValue(coordinatorMbit) ?? result.GetValue(mbit), delay);
            if (bench.Namespaces && VirtualHosts.Unavailable() is { } why)
                throw new PoolException("--hosts namespaces: " + why);
            Console.WriteLine($"Exchange of {count:N0} parameters, {(bench.Namespaces ? $"namespace hosts, links {Rate(bench.Mbit)} (coordinator {Rate(bench.CoordinatorMbit)})" : "loopback")}, one-way delay {delay.TotalMilliseconds:0} ms, {Environment.ProcessorCount} cores; median of {bench.Repeat} after a warm-up.");
            Console.WriteLine();
            Console.WriteLine("| workers | format | topology | payload | median | min..max | worker sends | worker receives | coordinator sends | coordinator receives |");
            Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
            foreach (var n in bench.Workers)
            {
                foreach (var format in bench.Formats)
                {
                    foreach (var topology in bench.Topologies)
                        Console.WriteLine(await RunCaseAsync(bench, n, format, topology, cancellationToken).ConfigureAwait(false));
                }
            }
            return 0;
        }));
        return command;
    }

    private sealed record BenchSpec(IReadOnlyList<string> Path, IReadOnlyList<int> Workers, IReadOnlyList<DeltaCompression> Formats, IReadOnlyList<string> Topologies,
        int Parameters, int Repeat, bool Namespaces, double Mbit, double CoordinatorMbit, TimeSpan Delay);

    private sealed record ChildSpec(string Role, int Rank, string Directory, IPEndPoint Control, IReadOnlyList<IPEndPoint> Endpoints, int Parameters, TimeSpan Delay);

    private static string[] List(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static string Rate(double mbit) => mbit > 0 ? $"{mbit:0.#} Mbit/s" : "unshaped";

    private static IPEndPoint Parse(string text) => IPEndPoint.Parse(text);

    /// <summary>The names from the root to this command (e.g. train bench-exchange), so children run it wherever it is registered.</summary>
    private static List<string> CommandPath(ParseResult result)
    {
        var names = new List<string>();
        for (var c = result.CommandResult; c.Parent is CommandResult parent; c = parent)
            names.Insert(0, c.Command.Name);
        return names;
    }

    /// <summary>One case: spawns the processes (on their hosts), runs a warm-up and the measured exchanges, and returns its table row.</summary>
    private static async Task<string> RunCaseAsync(BenchSpec bench, int n, DeltaCompression format, string topology, CancellationToken cancellationToken)
    {
        var star = topology == "star";
        var dir = Directory.CreateTempSubdirectory("tessera-exchange-").FullName;
        var children = new List<ChildProcess>();
        var failed = true;
        VirtualHosts? hosts = null;
        try
        {
            ExchangeIdentity.CreateSet(dir, n);
            var names = Enumerable.Range(0, n).Select(r => $"worker-{r}").Prepend(Coordinator).ToList();
            var port = FreePort();
            IPAddress controlIp;
            Func<string, IPAddress> address;
            if (bench.Namespaces)
            {
                hosts = new VirtualHosts(names);
                foreach (var name in names)
                {
                    var rate = name == Coordinator ? bench.CoordinatorMbit : bench.Mbit;
                    if (rate > 0)
                        hosts.Shape(name, rate);
                }
                controlIp = IPAddress.Parse(hosts.CoordinatorIp);
                address = name => IPAddress.Parse(hosts.IpOf(name));
            }
            else
            {
                controlIp = IPAddress.Loopback;
                address = name => name == Coordinator ? IPAddress.Parse("127.0.0.2") : IPAddress.Parse($"127.0.0.{10 + names.IndexOf(name)}");
            }
            var roles = star ? names : names.Skip(1).ToList();
            var endpoints = string.Join(',', roles.Select(name => new IPEndPoint(address(name), port).ToString()));
            using var controlListener = new TcpListener(controlIp, 0);
            controlListener.Start();
            foreach (var name in roles)
            {
                string[] args = [.. bench.Path, "--role", name == Coordinator ? "star-coordinator" : star ? "star-worker" : "ring-worker",
                    "--rank", name == Coordinator ? "0" : name["worker-".Length..], "--dir", dir, "--control", controlListener.LocalEndpoint.ToString()!,
                    "--endpoints", endpoints, "--parameters", bench.Parameters.ToString(CultureInfo.InvariantCulture),
                    "--delay-ms", bench.Delay.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)];
                children.Add(ChildProcess.Start(name, Path.Combine(dir, "logs"), args, networkNamespace: hosts?.NamespaceOf(name)));
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromMinutes(5));
            var controls = new Dictionary<string, ControlLine>();
            while (controls.Count < roles.Count)
            {
                var accept = controlListener.AcceptTcpClientAsync(timeout.Token).AsTask();
                while (await Task.WhenAny(accept, Task.Delay(500, timeout.Token)).ConfigureAwait(false) != accept)
                {
                    if (children.FirstOrDefault(c => c.HasExited) is { } dead)
                        throw new PoolException($"{dead.Name} exited before it was ready; see {dead.LogPath}.");
                }
                var line = new ControlLine(await accept.ConfigureAwait(false));
                var ready = await line.ReadAsync(timeout.Token).ConfigureAwait(false);
                controls[ready.Split(' ')[1]] = line;
            }

            var warmUp = Math.Max(DeltaCodec.Int8BlockSize, bench.Parameters / 16 / DeltaCodec.Int8BlockSize * DeltaCodec.Int8BlockSize);
            var times = new List<double>();
            string[] last = [];
            for (var round = 0; round <= bench.Repeat; round++)
            {
                var clock = Stopwatch.StartNew();
                foreach (var line in controls.Values)
                    await line.WriteAsync($"go {(round == 0 ? warmUp : bench.Parameters)} {format.ToString().ToLowerInvariant()}", timeout.Token).ConfigureAwait(false);
                last = await Task.WhenAll(roles.Select(name => controls[name].ReadAsync(timeout.Token))).ConfigureAwait(false);
                clock.Stop();
                if (round > 0)
                    times.Add(clock.Elapsed.TotalSeconds);
            }
            foreach (var line in controls.Values)
            {
                await line.WriteAsync("quit", timeout.Token).ConfigureAwait(false);
                line.Dispose();
            }

            // done SENT RECEIVED CHECK: the workers' checks (the sum of their result) must agree.
            var done = roles.Zip(last, (name, text) => (Name: name, Fields: text.Split(' '))).ToList();
            var workerRows = done.Where(d => d.Name != Coordinator).ToList();
            if (workerRows.Select(d => d.Fields[3]).Distinct().Count() != 1)
                throw new PoolException($"The workers ended with different vectors ({string.Join(", ", workerRows.Select(d => d.Fields[3]))}).");
            long Max(int field) => workerRows.Max(d => long.Parse(d.Fields[field], CultureInfo.InvariantCulture));
            var coordinator = done.FirstOrDefault(d => d.Name == Coordinator).Fields;
            times.Sort();
            var payload = (int)DeltaCodec.EncodedSize(format, bench.Parameters);
            failed = false;
            return $"| {n} | {format.ToString().ToLowerInvariant()} | {topology} | {Megabytes(payload)} | {times[times.Count / 2]:0.00} s | {times[0]:0.00}..{times[^1]:0.00} s " +
                $"| {Megabytes(Max(1))} | {Megabytes(Max(2))} | {(coordinator is null ? "-" : Megabytes(long.Parse(coordinator[1], CultureInfo.InvariantCulture)))} " +
                $"| {(coordinator is null ? "-" : Megabytes(long.Parse(coordinator[2], CultureInfo.InvariantCulture)))} |";
        }
        finally
        {
            foreach (var child in children)
                await child.KillAsync().ConfigureAwait(false);
            hosts?.Dispose();
            if (failed)
                Console.Error.WriteLine($"Logs of the failed case are in {Path.Combine(dir, "logs")}.");
            else
                Directory.Delete(dir, recursive: true);
        }
    }

    private static string Megabytes(long bytes) => $"{bytes / 1e6:0.0} MB";

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>A child: sets up its links, reports ready, then runs an exchange a "go COUNT FORMAT" until "quit".</summary>
    private static async Task<int> RunChildAsync(ChildSpec spec, CancellationToken cancellationToken)
    {
        var isCoordinator = spec.Role == "star-coordinator";
        using var identity = ExchangeIdentity.Load(spec.Directory, isCoordinator ? null : spec.Rank);
        var links = new List<ExchangeLink>();
        TcpListener? listener = null;
        try
        {
            Func<int, DeltaCompression, Task<string>> exchange;
            var change = new float[spec.Parameters];
            var random = new Random(spec.Rank + 1);
            for (var i = 0; i < change.Length; i++)
                change[i] = (random.NextSingle() - 0.5f) * 1e-3f;
            switch (spec.Role)
            {
                case "star-coordinator":
                    listener = new TcpListener(spec.Endpoints[0]);
                    listener.Start();
                    for (var i = 1; i < spec.Endpoints.Count; i++)
                        links.Add(await ExchangeLink.AcceptAsync(listener, identity, spec.Delay, cancellationToken).ConfigureAwait(false));
                    exchange = async (count, format) => (await StarExchange.CoordinatorAsync(links, count, format, cancellationToken).ConfigureAwait(false)).ToString(CultureInfo.InvariantCulture);
                    break;
                case "star-worker":
                    links.Add(await ExchangeLink.ConnectAsync(spec.Endpoints[0], identity, peerIsCoordinator: true, spec.Delay, TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false));
                    exchange = async (count, format) => Check(await StarExchange.WorkerAsync(links[0], change.AsMemory(0, count), format, cancellationToken).ConfigureAwait(false));
                    break;
                case "ring-worker":
                    listener = new TcpListener(spec.Endpoints[spec.Rank]);
                    listener.Start();
                    var (left, right) = await RingAllReduce.JoinAsync(listener, spec.Endpoints[(spec.Rank + 1) % spec.Endpoints.Count], identity, spec.Delay, cancellationToken).ConfigureAwait(false);
                    links.AddRange([left, right]);
                    exchange = async (count, format) => Check(await RingAllReduce.AllReduceAsync(left, right, spec.Rank, spec.Endpoints.Count, change.AsMemory(0, count), format, cancellationToken).ConfigureAwait(false));
                    break;
                default:
                    throw new PoolException($"Unknown role {spec.Role}.");
            }
            var tcp = new TcpClient(spec.Control.AddressFamily);
            await tcp.ConnectAsync(spec.Control, cancellationToken).ConfigureAwait(false);
            using var control = new ControlLine(tcp);
            await control.WriteAsync($"ready {(isCoordinator ? Coordinator : $"worker-{spec.Rank}")}", cancellationToken).ConfigureAwait(false);
            while (await control.ReadAsync(cancellationToken).ConfigureAwait(false) is { } line && line.StartsWith("go ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                long sent = links.Sum(l => l.BytesSent), received = links.Sum(l => l.BytesReceived);
                var check = await exchange(int.Parse(parts[1], CultureInfo.InvariantCulture), DeltaCodec.Parse(parts[2])).ConfigureAwait(false);
                await control.WriteAsync($"done {links.Sum(l => l.BytesSent) - sent} {links.Sum(l => l.BytesReceived) - received} {check}", cancellationToken).ConfigureAwait(false);
            }
            return 0;
        }
        finally
        {
            foreach (var link in links)
                await link.DisposeAsync().ConfigureAwait(false);
            listener?.Stop();
        }
    }

    /// <summary>What every worker must agree on: the sum of the vector it ended with.</summary>
    private static string Check(float[] result) => System.Numerics.Tensors.TensorPrimitives.Sum(result).ToString("R", CultureInfo.InvariantCulture);

    /// <summary>One line of text at a time over a plain TCP connection (the bench's control channel, not the measured traffic).</summary>
    private sealed class ControlLine(TcpClient client) : IDisposable
    {
        private readonly StreamReader _reader = new(client.GetStream());
        private readonly StreamWriter _writer = new(client.GetStream()) { AutoFlush = true };

        public async Task<string> ReadAsync(CancellationToken cancellationToken) =>
            await _reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) ?? throw new PoolException("A bench process closed its control connection.");

        public async Task WriteAsync(string line, CancellationToken cancellationToken) => await _writer.WriteLineAsync(line.AsMemory(), cancellationToken).ConfigureAwait(false);

        public void Dispose()
        {
            _writer.Dispose();
            _reader.Dispose();
            client.Dispose();
        }
    }
}
