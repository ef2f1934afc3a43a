using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Tessera.Pool.Protocol;
using Tessera.Serving;
using Tessera.Serving.Relay;

namespace Tessera.Deploy;

/// <summary>
/// The coordinator's relay for nodes nobody can dial (behind NAT or a firewall that drops inbound connections). For
/// each port of such a node that others must reach (a stage, its link probe) the relay listens on a port of its own,
/// a front. A connection to a front makes the relay ask the node's agent, over its control stream, to dial back to
/// the relay's back port with a fresh 16-byte connection id; the relay then splices the two connections
/// (<see cref="TcpSplice"/>). Bytes are forwarded, never read: mutual TLS runs end to end between the caller and the
/// stage, so the relay can neither read nor forge what crosses it. The id is a random secret sent only over the
/// agent's mutual-TLS control stream; a back connection with an unknown id is closed. Bounds: <see cref="MaxPerNode"/>
/// open connections and <see cref="MaxPendingPerNode"/> dial-backs waiting per node, <see cref="MaxFrontsPerNode"/>
/// fronts per node (the oldest closes first: a stage restarted on a new port gets a new front), and a dial-back that
/// does not arrive within <see cref="DefaultDialBackTimeout"/> closes the caller's connection.
/// </summary>
public sealed class StageRelay : IStageRelay, IAsyncDisposable
{
    public const int MaxPerNode = 256;
    public const int MaxPendingPerNode = 32;
    public const int MaxFrontsPerNode = 64;
    public static readonly TimeSpan DefaultDialBackTimeout = TimeSpan.FromSeconds(5);

    private readonly IAgentCommands _agents;
    private readonly Func<IPAddress> _listenAddress;
    private readonly Func<string> _advertisedAddress;
    private readonly ILogger _logger;
    private readonly TimeSpan _dialBackTimeout;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Node, int Port), Front> _fronts = [];
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _waiting = new(StringComparer.Ordinal);
    private Socket? _back;
    private long _frontSequence;

    /// <param name="listenAddress">The address the coordinator listens on: fronts and the back port bind there.</param>
    /// <param name="advertisedAddress">HOST:PORT agents and peers reach the coordinator at: fronts are advertised on that host.</param>
    /// <param name="dialBackTimeout">How long a caller waits for the agent's dial-back (<see cref="DefaultDialBackTimeout"/> by default).</param>
    public StageRelay(IAgentCommands agents, Func<IPAddress> listenAddress, Func<string> advertisedAddress, ILogger logger, TimeSpan? dialBackTimeout = null)
    {
        _dialBackTimeout = dialBackTimeout ?? DefaultDialBackTimeout;
        _agents = agents;
        _listenAddress = listenAddress;
        _advertisedAddress = advertisedAddress;
        _logger = logger;
    }

    /// <inheritdoc/>
    public string Via => "coordinator";

    /// <inheritdoc/>
    public string Through(string nodeId, string directEndpoint)
    {
        if (!HostPort.TrySplit(directEndpoint, out _, out var port))
            throw new ArgumentException($"Not a HOST:PORT endpoint: {directEndpoint}.", nameof(directEndpoint));
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
            EnsureBackLocked();
            if (!_fronts.TryGetValue((nodeId, port), out var front))
            {
                var mine = _fronts.Where(f => f.Key.Node == nodeId).OrderBy(f => f.Value.Sequence).ToList();
                if (mine.Count >= MaxFrontsPerNode)
                {
                    mine[0].Value.Socket.Dispose();
                    _fronts.Remove(mine[0].Key);
                }
                var socket = Listen(0);
                front = new Front(socket, ++_frontSequence);
                _fronts[(nodeId, port)] = front;
                _ = AcceptFrontsAsync(socket, nodeId, port);
                _logger.LogRelayFront(Advertised(socket), port, nodeId);
            }
            return Advertised(front.Socket);
        }
    }

    /// <summary>The port agents dial back to (0 before the first front).</summary>
    public int BackPort
    {
        get
        {
            lock (_gate)
                return _back is null ? 0 : ((IPEndPoint)_back.LocalEndPoint!).Port;
        }
    }

    private void EnsureBackLocked()
    {
        if (_back is not null)
            return;
        _back = Listen(0);
        _ = AcceptBacksAsync(_back);
    }

    private Socket Listen(int port)
    {
        var address = _listenAddress();
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen(64);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private string Advertised(Socket socket)
    {
        var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        var advertised = _advertisedAddress();
        var host = HostPort.TrySplit(advertised, out var advertisedHost, out _) ? advertisedHost : advertised;
        return host + ":" + port.ToString(CultureInfo.InvariantCulture);
    }

    private async Task AcceptFrontsAsync(Socket listener, string nodeId, int port)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket caller;
            try
            {
                caller = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return; // the front was closed (evicted, or the relay stopped)
            }
            _ = ServeAsync(caller, nodeId, port);
        }
    }

    private async Task ServeAsync(Socket caller, string nodeId, int port)
    {
        var waiting = false;
        Pending? pending = null;
        string? key = null;
        _open.AddOrUpdate(nodeId, 1, (_, n) => n + 1);
        try
        {
            if (_open[nodeId] > MaxPerNode)
            {
                Drop(caller, nodeId, port, $"more than {MaxPerNode} relayed connections to the node");
                return;
            }
            waiting = true;
            if (_waiting.AddOrUpdate(nodeId, 1, (_, n) => n + 1) > MaxPendingPerNode)
            {
                Drop(caller, nodeId, port, $"more than {MaxPendingPerNode} dial-backs pending for the node");
                return;
            }
            var id = RandomNumberGenerator.GetBytes(16);
            key = Convert.ToHexString(id);
            pending = new Pending(nodeId, new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously));
            _pending[key] = pending;
            var command = new Command
            {
                CommandId = Tessera.Identity.Secrets.NewId("cmd_"),
                RelayDial = new RelayDialCommand { ConnectionId = Google.Protobuf.ByteString.CopyFrom(id), RelayPort = BackPort, TargetPort = port },
            };
            if (!_agents.TrySend(nodeId, command))
            {
                Drop(caller, nodeId, port, "its agent is not connected");
                return;
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_dialBackTimeout);
            using (timeout.Token.Register(() => pending.Back.TrySetCanceled()))
            {
                try
                {
                    await pending.Back.Task.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Drop(caller, nodeId, port, _stopping.IsCancellationRequested ? "the relay stopped" : $"the agent did not dial back within {_dialBackTimeout.TotalSeconds:0.#} s");
                    return;
                }
            }
            _waiting.AddOrUpdate(nodeId, 0, (_, n) => n - 1);
            waiting = false;
            await TcpSplice.RunAsync(caller, pending.Back.Task.Result, _stopping.Token).ConfigureAwait(false);
        }
        finally
        {
            if (key is not null)
                _pending.TryRemove(key, out _);
            if (waiting)
                _waiting.AddOrUpdate(nodeId, 0, (_, n) => n - 1);
            _open.AddOrUpdate(nodeId, 0, (_, n) => n - 1);
        }
    }

    private void Drop(Socket caller, string nodeId, int port, string reason)
    {
        _logger.LogRelayDropped(port, nodeId, reason);
        caller.Dispose();
    }

    private async Task AcceptBacksAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket back;
            try
            {
                back = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            _ = MatchAsync(back);
        }
    }

    /// <summary>Reads a back connection's id (within the dial-back timeout) and hands it to the caller waiting for it.</summary>
    private async Task MatchAsync(Socket back)
    {
        var id = new byte[16];
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_dialBackTimeout);
            var read = 0;
            while (read < id.Length)
            {
                var n = await back.ReceiveAsync(id.AsMemory(read), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (n == 0)
                    break;
                read += n;
            }
            // The caller's wait and this hand-over race only through the completion source: whichever completes it wins.
            if (read == id.Length && _pending.TryRemove(Convert.ToHexString(id), out var pending) && pending.Back.TrySetResult(back))
                return;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        back.Dispose();
    }

    /// <summary>Closes every front and the back port; callers waiting for a dial-back are closed, spliced connections end.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_stopping.IsCancellationRequested)
                return ValueTask.CompletedTask;
            _stopping.Cancel();
            foreach (var front in _fronts.Values)
                front.Socket.Dispose();
            _fronts.Clear();
            _back?.Dispose();
        }
        foreach (var pending in _pending.Values)
            pending.Back.TrySetCanceled();
        return ValueTask.CompletedTask;
    }

    private sealed record Front(Socket Socket, long Sequence);

    private sealed record Pending(string NodeId, TaskCompletionSource<Socket> Back);
}
