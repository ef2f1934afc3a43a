using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Tessera.Deploy;
using Tessera.Pool.Protocol;

namespace Tessera.Deploy.Tests;

/// <summary>
/// The coordinator's relay and the agent's dial-back over real sockets on loopback. The control stream between them is
/// the one thing stood in for: a command the relay sends reaches the agent's handler directly (the process test on
/// network namespaces runs the real one, through a NAT).
/// </summary>
public sealed class StageRelayTests : IAsyncLifetime
{
    private const string Node = "n1";
    private readonly TcpListener _stage = new(IPAddress.Loopback, 0);
    private readonly List<CommandResult> _results = [];
    private RelayDialer _dialer = null!;
    private StageRelay _relay = null!;
    private bool _connected = true;

    private int StagePort => ((IPEndPoint)_stage.LocalEndpoint).Port;

    public Task InitializeAsync()
    {
        _stage.Start();
        _ = EchoAsync();
        _dialer = new RelayDialer("127.0.0.1:7470", port => port == StagePort, NullLogger.Instance);
        _relay = new StageRelay(new Agents(this), () => IPAddress.Loopback, () => "127.0.0.1:7470", NullLogger.Instance, TimeSpan.FromSeconds(4));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _relay.DisposeAsync();
        await _dialer.DisposeAsync();
        _stage.Stop();
    }

    /// <summary>The "stage": echoes what it reads, and closes its side when the caller closes its own.</summary>
    private async Task EchoAsync()
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = await _stage.AcceptTcpClientAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    var buffer = new byte[8192];
                    int n;
                    while ((n = await stream.ReadAsync(buffer)) > 0)
                        await stream.WriteAsync(buffer.AsMemory(0, n));
                }
            });
        }
    }

    private sealed class Agents(StageRelayTests test) : IAgentCommands
    {
        public bool TrySend(string nodeId, Command command)
        {
            if (!test._connected || nodeId != Node)
                return false;
            _ = Task.Run(async () =>
            {
                var result = await test._dialer.HandleAsync(command, CancellationToken.None);
                lock (test._results)
                    test._results.Add(result!);
            });
            return true;
        }
    }

    private static async Task<Socket> DialAsync(string endpoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPEndPoint.Parse(endpoint));
        return socket;
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var all = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancel.Token)) > 0)
            all.Write(buffer, 0, n);
        return all.ToArray();
    }

    [Fact]
    public async Task BytesCrossTheRelayBothWays_AndACloseCrossesToo()
    {
        var front = _relay.Through(Node, "0.0.0.0:" + StagePort);
        Assert.StartsWith("127.0.0.1:", front);
        Assert.NotEqual("127.0.0.1:" + StagePort, front);

        using var caller = await DialAsync(front);
        var payload = new byte[3 << 20];
        new Random(7).NextBytes(payload);
        var sent = Task.Run(async () =>
        {
            await caller.SendAsync(payload, SocketFlags.None);
            caller.Shutdown(SocketShutdown.Send); // the echo closes its side when it sees this, through the relay
        });
        var echoed = await ReadToEndAsync(caller, TimeSpan.FromSeconds(20));
        await sent;

        Assert.Equal(payload, echoed);
        Assert.Equal(front, _relay.Through(Node, "0.0.0.0:" + StagePort)); // one front per port
        Assert.Contains(_results, r => r.Ok);
    }

    [Fact]
    public async Task SeveralConnectionsAtOnce_EachGetsItsOwnDialBack()
    {
        var front = _relay.Through(Node, "10.0.0.9:" + StagePort);
        var rounds = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            using var caller = await DialAsync(front);
            var message = System.Text.Encoding.UTF8.GetBytes($"connection {i}");
            await caller.SendAsync(message, SocketFlags.None);
            caller.Shutdown(SocketShutdown.Send);
            return System.Text.Encoding.UTF8.GetString(await ReadToEndAsync(caller, TimeSpan.FromSeconds(20)));
        }));

        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"connection {i}"), rounds);
    }

    [Fact]
    public async Task APortTheAgentDoesNotServe_IsRefusedByTheAgent_AndTheCallerIsClosed()
    {
        var front = _relay.Through(Node, "0.0.0.0:22");
        using var caller = await DialAsync(front);

        var read = await ReadToEndAsync(caller, TimeSpan.FromSeconds(10)); // closed after the dial-back timeout

        Assert.Empty(read);
        lock (_results)
            Assert.Contains(_results, r => !r.Ok && r.Error.Contains("serves nothing on port 22", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ANodeWhoseAgentIsNotConnected_ClosesTheCallerAtOnce()
    {
        _connected = false;
        var front = _relay.Through(Node, "0.0.0.0:" + StagePort);
        using var caller = await DialAsync(front);

        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.Empty(await ReadToEndAsync(caller, TimeSpan.FromSeconds(10)));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(3), $"closed after {started.Elapsed}, not at once (the dial-back timeout is 4 s)");
    }

    [Fact]
    public async Task ABackConnectionWithAnUnknownId_IsClosed_AndReachesNoCaller()
    {
        _relay.Through(Node, "0.0.0.0:" + StagePort); // opens the back port
        using var forged = await DialAsync("127.0.0.1:" + _relay.BackPort);
        await forged.SendAsync(new byte[16], SocketFlags.None);

        Assert.Empty(await ReadToEndAsync(forged, TimeSpan.FromSeconds(10)));
    }
}
