using System.Net;
using System.Net.Sockets;

namespace Tessera.Testing;

/// <summary>
/// A loopback TCP relay in front of a real server, for tests of links that are not perfect: it delays every byte by
/// <see cref="Delay"/> in each direction (so a round trip costs twice that), and it can black-hole the link (stop
/// relaying while keeping connections open, as a stopped machine or a dropped route does) and restore it.
/// </summary>
internal sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _clients = [];
    private readonly Task _accepting;
    private volatile bool _blackHoled;

    public TcpRelay(IPEndPoint target, TimeSpan delay = default)
    {
        _target = target;
        Delay = delay;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>HOST:PORT to dial instead of the target.</summary>
    public string Address => ((IPEndPoint)_listener.LocalEndpoint).ToString();

    /// <summary>Added to each direction of the link.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>While true, bytes are read but not passed on, in both directions; connections stay open.</summary>
    public bool BlackHoled
    {
        get => _blackHoled;
        set => _blackHoled = value;
    }

    private readonly HashSet<int> _blackHoledConnections = [];
    private int _accepted;

    /// <summary>Connections accepted so far; the first is number 0.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Black-holes one connection only (by the order it was accepted): the others, and new ones, still flow.</summary>
    public void BlackHole(int connection)
    {
        lock (_blackHoledConnections)
            _blackHoledConnections.Add(connection);
    }

    private bool Passes(int connection)
    {
        if (_blackHoled)
            return false;
        lock (_blackHoledConnections)
            return !_blackHoledConnections.Contains(connection);
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
                var outbound = new TcpClient { NoDelay = true };
                inbound.NoDelay = true;
                try
                {
                    await outbound.ConnectAsync(_target, _stop.Token);
                }
                catch (SocketException)
                {
                    inbound.Dispose();
                    outbound.Dispose();
                    continue;
                }
                lock (_clients)
                    _clients.AddRange([inbound, outbound]);
                var connection = Interlocked.Increment(ref _accepted) - 1;
                _ = PumpAsync(inbound.GetStream(), outbound.GetStream(), connection);
                _ = PumpAsync(outbound.GetStream(), inbound.GetStream(), connection);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    /// <summary>Copies one direction with <see cref="Delay"/> on every chunk, dropping what arrives while the connection is black-holed.</summary>
    private async Task PumpAsync(NetworkStream from, NetworkStream to, int connection)
    {
        try
        {
            await Tessera.Serving.Relay.DelayedCopy.RunAsync(from, to, () => Delay, () => Passes(connection), _stop.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
        finally
        {
            to.Socket.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_clients)
        {
            foreach (var client in _clients)
                client.Dispose();
        }
        await _accepting;
        _stop.Dispose();
    }
}
