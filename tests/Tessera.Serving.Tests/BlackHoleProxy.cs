using System.Net;
using System.Net.Sockets;

namespace Tessera.Serving.Tests;

/// <summary>
/// A loopback TCP relay in front of one stage that can be told to black-hole: from then on it relays no byte in either
/// direction and answers no new connection, yet closes nothing, as a dropped route or a stopped process looks from the
/// outside. Nothing breaks, so only a stall deadline (or a transport timeout) can tell.
/// </summary>
internal sealed class BlackHoleProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _holed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Socket> _sockets = [];
    private readonly Task _accepting;

    public BlackHoleProxy(string target)
    {
        var colon = target.LastIndexOf(':');
        _target = new IPEndPoint(IPAddress.Parse(target[..colon]), int.Parse(target[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>HOST:PORT to use in place of the stage's own address.</summary>
    public string Address => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Bytes relayed so far (both directions).</summary>
    public long Relayed => Interlocked.Read(ref _relayed);

    private long _relayed;

    /// <summary>Stops relaying from now on, keeping every connection open.</summary>
    public void BlackHole() => _holed.TrySetResult();

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptSocketAsync(_stopping.Token);
                lock (_sockets)
                    _sockets.Add(client);
                if (_holed.Task.IsCompleted)
                    continue;
                var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                lock (_sockets)
                    _sockets.Add(server);
                await server.ConnectAsync(_target, _stopping.Token);
                _ = RelayAsync(client, server);
                _ = RelayAsync(server, client);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task RelayAsync(Socket from, Socket to)
    {
        var buffer = new byte[16384];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, _stopping.Token);
                if (_holed.Task.IsCompleted)
                    break;
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                await to.SendAsync(buffer.AsMemory(0, n), _stopping.Token);
                Interlocked.Add(ref _relayed, n);
            }
            // Black-holed: hold on without closing until the proxy is disposed.
            await Task.Delay(Timeout.Infinite, _stopping.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
                socket.Dispose();
        }
        await _accepting;
        _stopping.Dispose();
    }
}
