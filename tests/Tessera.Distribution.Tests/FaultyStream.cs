using Microsoft.AspNetCore.Http;

namespace Tessera.Distribution.Tests;

/// <summary>
/// Wraps a response body to misbehave: abort the connection after <c>dropAfter</c> bytes, or flip the byte at
/// <c>flipAt</c>. Used to play a network that loses connections and corrupts data.
/// </summary>
internal sealed class FaultyStream(Stream inner, HttpContext context, long dropAfter = long.MaxValue, long flipAt = -1) : Stream
{
    private long _written;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _written; set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var data = buffer.ToArray();
        if (flipAt >= _written && flipAt < _written + data.Length)
            data[flipAt - _written] ^= 0xFF;
        if (_written + data.Length > dropAfter)
        {
            var keep = (int)Math.Max(0, dropAfter - _written);
            await inner.WriteAsync(data.AsMemory(0, keep), cancellationToken);
            await inner.FlushAsync(cancellationToken);
            _written += keep;
            await Task.Delay(20, CancellationToken.None);
            context.Abort();
            throw new IOException("connection dropped by the test");
        }
        await inner.WriteAsync(data, cancellationToken);
        _written += data.Length;
    }
}
