using System.Buffers;
using System.Net.Sockets;

namespace Tessera.Serving.Relay;

/// <summary>
/// Joins two TCP connections into one: bytes read from either are written to the other until both directions end. A
/// side that finishes sending (reads 0) is passed on as a half-close, so TLS close-notify and HTTP/2 shutdowns cross
/// the splice as they would a direct connection; an error on either side aborts both. The relay that uses it never
/// reads what it forwards: TLS runs end to end between the two outer peers.
/// </summary>
public static class TcpSplice
{
    private const int BufferBytes = 64 * 1024;

    /// <summary>Runs until both directions end or either fails; disposes both sockets.</summary>
    public static async Task RunAsync(Socket a, Socket b, CancellationToken cancellation)
    {
        a.NoDelay = true;
        b.NoDelay = true;
        using var streamA = new NetworkStream(a, ownsSocket: true);
        using var streamB = new NetworkStream(b, ownsSocket: true);
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        await Task.WhenAll(PumpAsync(streamA, a, streamB, b, abort), PumpAsync(streamB, b, streamA, a, abort)).ConfigureAwait(false);
    }

    private static async Task PumpAsync(NetworkStream from, Socket fromSocket, NetworkStream to, Socket toSocket, CancellationTokenSource abort)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
        try
        {
            while (true)
            {
                var read = await from.ReadAsync(buffer, abort.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    toSocket.Shutdown(SocketShutdown.Send);
                    return;
                }
                await to.WriteAsync(buffer.AsMemory(0, read), abort.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // One side broke: the whole connection is gone, as it would be without the relay.
            await abort.CancelAsync().ConfigureAwait(false);
            Abort(fromSocket);
            Abort(toSocket);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void Abort(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0); // a reset, so the peer sees the break at once
            socket.Close();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
