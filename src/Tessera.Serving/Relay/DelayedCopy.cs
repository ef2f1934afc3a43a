using System.Threading.Channels;

namespace Tessera.Serving.Relay;

/// <summary>
/// Copies one direction of a connection with a delay on every chunk, as a slow or jittery link would: each chunk read
/// is written once it is due, in order and never before the chunk before it. For link emulation and tests (a link
/// made slow or black-holed on purpose), not for the data path.
/// </summary>
public static class DelayedCopy
{
    private const int BufferBytes = 64 * 1024;

    /// <summary>
    /// Reads <paramref name="from"/> until it ends and writes each chunk to <paramref name="to"/> after
    /// <paramref name="delay"/> (asked once per chunk, so it may vary). Chunks read while <paramref name="passes"/> says
    /// false are dropped (a black-holed link). Returns once every chunk kept was written; errors on either side are
    /// thrown to the caller, who closes the sockets.
    /// </summary>
    public static async Task RunAsync(Stream from, Stream to, Func<TimeSpan> delay, Func<bool>? passes, CancellationToken cancellation)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Bytes)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = Task.Run(async () =>
        {
            await foreach (var (due, bytes) in queue.Reader.ReadAllAsync(cancellation).ConfigureAwait(false))
            {
                var wait = TimeSpan.FromTicks(due - DateTime.UtcNow.Ticks);
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait, cancellation).ConfigureAwait(false);
                await to.WriteAsync(bytes, cancellation).ConfigureAwait(false);
            }
        }, cancellation);
        var buffer = new byte[BufferBytes];
        long lastDue = 0;
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, cancellation).ConfigureAwait(false)) > 0)
            {
                if (passes is not null && !passes())
                    continue;
                var due = Math.Max(lastDue, DateTime.UtcNow.Ticks + Math.Max(0, delay().Ticks));
                lastDue = due;
                queue.Writer.TryWrite((due, buffer.AsSpan(0, read).ToArray()));
            }
        }
        finally
        {
            queue.Writer.TryComplete();
        }
        await writer.ConfigureAwait(false);
    }
}
