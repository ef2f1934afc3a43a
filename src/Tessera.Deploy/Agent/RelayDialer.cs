using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Tessera.Pool.Agent;
using Tessera.Pool.Protocol;
using Tessera.Serving;
using Tessera.Serving.Relay;

namespace Tessera.Deploy;

/// <summary>
/// The agent's side of the coordinator's relay (<see cref="StageRelay"/>): on <see cref="RelayDialCommand"/> it dials
/// the relay's back port on the coordinator's host (the host it joined, which it can reach: its control stream goes
/// there), writes the connection id, connects to its own port and splices the two. Only ports this agent serves (its
/// stages, its link probe) are connected, so the relay cannot use the agent to reach anything else; at most
/// <see cref="MaxConnections"/> relayed connections are open at once.
/// </summary>
public sealed class RelayDialer : IAgentCommandHandler, IAsyncDisposable
{
    public const int MaxConnections = 256;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    private readonly string _coordinatorHost;
    private readonly Func<int, bool> _serves;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private int _open;

    /// <param name="coordinatorAddress">HOST:PORT of the coordinator, as the agent joined it: the relay is on that host.</param>
    /// <param name="serves">Whether a port on this machine is one the agent serves (a stage's, the link probe's).</param>
    public RelayDialer(string coordinatorAddress, Func<int, bool> serves, ILogger logger)
    {
        _coordinatorHost = (HostPort.TrySplit(coordinatorAddress, out var host, out _) ? host : coordinatorAddress).Trim('[', ']');
        _serves = serves;
        _logger = logger;
    }

    public void Attach(Func<AgentMessage, CancellationToken, Task> send)
    {
    }

    public IReadOnlyList<AgentMessage> Snapshot() => [];

    public Task<CommandResult?> HandleAsync(Command command, CancellationToken cancellationToken)
    {
        if (command.KindCase != Command.KindOneofCase.RelayDial)
            return Task.FromResult<CommandResult?>(null);
        var dial = command.RelayDial;
        string? refused = null;
        if (dial.ConnectionId.Length != 16)
            refused = "the connection id must be 16 bytes";
        else if (dial.RelayPort is <= 0 or > 65535 || dial.TargetPort is <= 0 or > 65535)
            refused = "ports must be 1-65535";
        else if (!_serves(dial.TargetPort))
            refused = string.Create(CultureInfo.InvariantCulture, $"this agent serves nothing on port {dial.TargetPort}");
        else if (Interlocked.Increment(ref _open) > MaxConnections)
        {
            Interlocked.Decrement(ref _open);
            refused = $"more than {MaxConnections} relayed connections are open";
        }
        if (refused is not null)
            return Task.FromResult<CommandResult?>(new CommandResult { Ok = false, Error = refused });
        _ = DialAsync(dial.ConnectionId.ToByteArray(), dial.RelayPort, dial.TargetPort);
        return Task.FromResult<CommandResult?>(new CommandResult { Ok = true });
    }

    private async Task DialAsync(byte[] id, int relayPort, int targetPort)
    {
        Socket? relay = null;
        Socket? local = null;
        var relayName = _coordinatorHost + ":" + relayPort.ToString(CultureInfo.InvariantCulture);
        try
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token))
            {
                timeout.CancelAfter(ConnectTimeout);
                relay = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await relay.ConnectAsync(_coordinatorHost, relayPort, timeout.Token).ConfigureAwait(false);
                await relay.SendAsync(id, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                local = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await local.ConnectAsync(new IPEndPoint(IPAddress.Loopback, targetPort), timeout.Token).ConfigureAwait(false);
            }
            var (a, b) = (relay, local);
            relay = local = null;
            await TcpSplice.RunAsync(a, b, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            if (!_stopping.IsCancellationRequested)
                _logger.LogRelayDialFailed(relayName, targetPort, e.Message);
        }
        finally
        {
            relay?.Dispose();
            local?.Dispose();
            Interlocked.Decrement(ref _open);
        }
    }

    public async ValueTask DisposeAsync() => await _stopping.CancelAsync().ConfigureAwait(false);
}
