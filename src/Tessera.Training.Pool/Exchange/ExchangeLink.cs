using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Tessera.Training.Pool.Exchange;

/// <summary>
/// One mutual-TLS connection between two ends of an exchange carrying length-prefixed messages (a 4-byte little-endian
/// length, then the payload), counting the bytes each way (TLS record overhead, about 0.2%, not included).
/// <see cref="Delay"/> holds every message that long before its first byte goes: a one-way propagation delay emulated
/// in the sender where the kernel cannot delay packets (no sch_netem).
/// </summary>
public sealed class ExchangeLink : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly SslStream _ssl;
    private readonly byte[] _header = new byte[4];
    private readonly byte[] _readHeader = new byte[4];

    private ExchangeLink(TcpClient tcp, SslStream ssl, TimeSpan delay)
    {
        _tcp = tcp;
        _ssl = ssl;
        Delay = delay;
    }

    public TimeSpan Delay { get; }

    public long BytesSent { get; private set; }

    public long BytesReceived { get; private set; }

    /// <summary>Connects to <paramref name="remote"/>, retrying while nothing listens there yet (up to <paramref name="patience"/>), and completes the TLS handshake.</summary>
    public static async Task<ExchangeLink> ConnectAsync(IPEndPoint remote, ExchangeIdentity identity, bool peerIsCoordinator, TimeSpan delay, TimeSpan patience, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + patience;
        while (true)
        {
            var tcp = new TcpClient(remote.AddressFamily) { NoDelay = true };
            try
            {
                await tcp.ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
                return await SecureAsync(tcp, delay, ssl => ssl.AuthenticateAsClientAsync(identity.ClientOptions(peerIsCoordinator), cancellationToken)).ConfigureAwait(false);
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                tcp.Dispose();
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                tcp.Dispose();
                throw;
            }
        }
    }

    /// <summary>Accepts one connection on <paramref name="listener"/> and completes the TLS handshake (the peer must present a node certificate).</summary>
    public static async Task<ExchangeLink> AcceptAsync(TcpListener listener, ExchangeIdentity identity, TimeSpan delay, CancellationToken cancellationToken)
    {
        var tcp = await listener.AcceptTcpClientAsync(cancellationToken).ConfigureAwait(false);
        tcp.NoDelay = true;
        try
        {
            return await SecureAsync(tcp, delay, ssl => ssl.AuthenticateAsServerAsync(identity.ServerOptions(), cancellationToken)).ConfigureAwait(false);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    private static async Task<ExchangeLink> SecureAsync(TcpClient tcp, TimeSpan delay, Func<SslStream, Task> handshake)
    {
        var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        try
        {
            await handshake(ssl).ConfigureAwait(false);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return new ExchangeLink(tcp, ssl, delay);
    }

    public async Task SendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (Delay > TimeSpan.Zero)
            await Task.Delay(Delay, cancellationToken).ConfigureAwait(false);
        BinaryPrimitives.WriteInt32LittleEndian(_header, payload.Length);
        await _ssl.WriteAsync(_header, cancellationToken).ConfigureAwait(false);
        await _ssl.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
        await _ssl.FlushAsync(cancellationToken).ConfigureAwait(false);
        BytesSent += _header.Length + payload.Length;
    }

    /// <summary>Reads one message, which must be exactly as long as <paramref name="buffer"/>.</summary>
    public async Task ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await _ssl.ReadExactlyAsync(_readHeader, cancellationToken).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadInt32LittleEndian(_readHeader);
        if (length != buffer.Length)
            throw new InvalidDataException($"Expected a message of {buffer.Length} bytes, got one of {length}.");
        await _ssl.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        BytesReceived += _readHeader.Length + length;
    }

    public async ValueTask DisposeAsync()
    {
        await _ssl.DisposeAsync().ConfigureAwait(false);
        _tcp.Dispose();
    }
}
