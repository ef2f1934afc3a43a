using System.Buffers.Binary;
using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Tessera.Serving.Relay;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>
/// A slow, jittery link between two hosts where the kernel has no <c>sch_netem</c> (this project's machines): a
/// transparent TCP proxy in a host's network namespace. An iptables rule there redirects the host's connections to one
/// peer into it (<see cref="VirtualHosts.EmulateLink"/>); it reads each connection's original destination
/// (SO_ORIGINAL_DST), dials it with a socket mark the rule lets through, and passes bytes on in order, each chunk
/// <c>delay / 2 ± jitter / 2</c> late in each direction (uniform), so a round trip takes about <c>delay ± jitter</c>, as
/// <c>netem delay DELAY JITTER</c> on one side would. Unlike netem it delays TCP segments' payload, not packets: no
/// reordering, no loss. Run inside the namespace by <c>tessera chaos emulate-link</c>, until killed.
/// </summary>
internal sealed class LinkEmulator
{
    /// <summary>The socket mark the emulator's own connections carry, which the redirect rule lets through.</summary>
    public const int Mark = 0x7e55;

    private const int SolIp = 0;
    private const int SoOriginalDst = 80;
    private const int SolSocket = 1;
    private const int SoMark = 36;

    private readonly TimeSpan _delay;
    private readonly TimeSpan _jitter;
    private readonly Random _random;

    public LinkEmulator(TimeSpan delay, TimeSpan jitter, int seed)
    {
        _delay = delay;
        _jitter = jitter;
        _random = new Random(seed);
    }

    public static Command CreateCommand()
    {
        var port = new Option<int>("--port") { Description = "Port to listen on (the iptables rule redirects there).", Required = true };
        var delay = new Option<double>("--delay-ms") { Description = "Round-trip delay added, in ms.", DefaultValueFactory = _ => 40 };
        var jitter = new Option<double>("--jitter-ms") { Description = "Round-trip jitter, in ms (uniform, ±).", DefaultValueFactory = _ => 20 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var command = new Command("emulate-link", "Internal to chaos and the namespace tests: a transparent proxy that delays a host's connections to one peer (run inside the host's namespace).")
        {
            Hidden = true,
        };
        foreach (var option in new Option[] { port, delay, jitter, seed })
            command.Options.Add(option);
        command.SetAction(async (result, cancellation) =>
        {
            var emulator = new LinkEmulator(TimeSpan.FromMilliseconds(result.GetValue(delay)), TimeSpan.FromMilliseconds(result.GetValue(jitter)), result.GetValue(seed));
            await emulator.RunAsync(result.GetValue(port), cancellation).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    public async Task RunAsync(int port, CancellationToken cancellation)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Any, port));
        listener.Listen(128);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"emulating a link of {_delay.TotalMilliseconds:0.#} ± {_jitter.TotalMilliseconds:0.#} ms on port {port}"));
        while (!cancellation.IsCancellationRequested)
        {
            Socket inbound;
            try
            {
                inbound = await listener.AcceptAsync(cancellation).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            _ = ServeAsync(inbound, cancellation);
        }
    }

    private async Task ServeAsync(Socket inbound, CancellationToken cancellation)
    {
        using (inbound)
        {
            try
            {
                inbound.NoDelay = true;
                var address = new byte[16];
                inbound.GetRawSocketOption(SolIp, SoOriginalDst, address);
                var target = new IPEndPoint(new IPAddress(address.AsSpan(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(address.AsSpan(2, 2)));
                using var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                outbound.SetRawSocketOption(SolSocket, SoMark, BitConverter.GetBytes(Mark));
                await outbound.ConnectAsync(target, cancellation).ConfigureAwait(false);
                using var a = new NetworkStream(inbound, ownsSocket: false);
                using var b = new NetworkStream(outbound, ownsSocket: false);
                var up = PumpAsync(a, b, outbound, cancellation);
                var down = PumpAsync(b, a, inbound, cancellation);
                // A half-close passes on and the other direction goes on; a break in either ends both, as on one link.
                if ((await Task.WhenAny(up, down).ConfigureAwait(false)).IsFaulted)
                {
                    inbound.Close(0);
                    outbound.Close(0);
                }
                await Task.WhenAll(up, down).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>Copies one direction with this link's delay and jitter on every chunk, then passes the end on as a half-close.</summary>
    private async Task PumpAsync(NetworkStream from, NetworkStream to, Socket toSocket, CancellationToken cancellation)
    {
        await DelayedCopy.RunAsync(from, to, OneWay, null, cancellation).ConfigureAwait(false);
        toSocket.Shutdown(SocketShutdown.Send);
    }

    private TimeSpan OneWay()
    {
        lock (_random)
            return TimeSpan.FromTicks((long)Math.Max(0, (_delay.Ticks / 2.0) + ((_random.NextDouble() * 2 - 1) * _jitter.Ticks / 2.0)));
    }
}
