using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using Google.Protobuf;

namespace Tessera.Pool.Control;

/// <summary>
/// The control link's wire format: after a mutual-TLS handshake that negotiated <see cref="Protocol"/>, each message is
/// its length as a protobuf varint followed by its bytes. No HTTP/2 underneath: an agent's idle connection costs the
/// coordinator a TLS session and two pipes instead of an HTTP/2 connection, a stream and a gRPC call.
/// </summary>
public static class ControlFrames
{
    /// <summary>The ALPN protocol id of the control link.</summary>
    public const string ProtocolName = "tessera-control/1";

    /// <summary>The largest message either side accepts, as gRPC's limit on the same stream.</summary>
    public const int MaxMessageBytes = 4 * 1024 * 1024;

    public static readonly SslApplicationProtocol Protocol = new(ProtocolName);

    /// <summary>
    /// Reads one message; null when the stream ended cleanly between messages. Throws <see cref="InvalidDataException"/>
    /// for a length over <see cref="MaxMessageBytes"/>, a broken varint or bytes that are not a message, and
    /// <see cref="EndOfStreamException"/> when the stream ends inside a frame.
    /// </summary>
    public static async ValueTask<T?> ReadAsync<T>(PipeReader reader, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (TryReadFrame(buffer, out var frame, out var consumed))
            {
                T message;
                try
                {
                    message = parser.ParseFrom(frame);
                }
                catch (InvalidProtocolBufferException ex)
                {
                    reader.AdvanceTo(buffer.Start);
                    throw new InvalidDataException($"A control-link frame of {frame.Length} bytes is not a {typeof(T).Name}: {ex.Message}", ex);
                }
                reader.AdvanceTo(consumed);
                return message;
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                reader.AdvanceTo(buffer.End);
                if (buffer.IsEmpty)
                    return null;
                throw new EndOfStreamException($"The control link ended inside a frame ({buffer.Length} bytes of it arrived).");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// A whole frame at the start of <paramref name="buffer"/>: its message bytes and where the next frame starts.
    /// False when more bytes are needed.
    /// </summary>
    public static bool TryReadFrame(ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message, out SequencePosition next)
    {
        message = default;
        next = buffer.Start;
        var reader = new SequenceReader<byte>(buffer);
        var length = 0;
        for (var shift = 0; ; shift += 7)
        {
            if (!reader.TryRead(out var b))
                return false;
            if (shift == 28 && b > 0x0F)
                throw new InvalidDataException("A control-link frame's length is not a 32-bit varint.");
            length |= (b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                break;
        }
        if (length > MaxMessageBytes)
            throw new InvalidDataException($"A control-link frame announces {length} bytes; the limit is {MaxMessageBytes}.");
        if (reader.Remaining < length)
            return false;
        message = buffer.Slice(reader.Position, length);
        next = message.End;
        return true;
    }

    /// <summary>Writes one frame into <paramref name="writer"/> without flushing.</summary>
    public static void Write(IBufferWriter<byte> writer, IMessage message)
    {
        var size = message.CalculateSize();
        if (size > MaxMessageBytes)
            throw new InvalidOperationException($"A {message.Descriptor.Name} of {size} bytes is over the control link's {MaxMessageBytes}-byte limit.");
        var header = writer.GetSpan(5);
        var n = 0;
        var v = (uint)size;
        while (v >= 0x80)
        {
            header[n++] = (byte)(v | 0x80);
            v >>= 7;
        }
        header[n++] = (byte)v;
        writer.Advance(n);
        message.WriteTo(writer);
    }

    /// <summary>Writes one frame and flushes it.</summary>
    public static async ValueTask WriteAsync(PipeWriter writer, IMessage message, CancellationToken cancellationToken)
    {
        Write(writer, message);
        var flushed = await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flushed.IsCompleted)
            throw new IOException("The control link was closed by the other side.");
    }
}
