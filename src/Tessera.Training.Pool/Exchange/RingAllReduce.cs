using System.Net;
using System.Numerics.Tensors;
using System.Net.Sockets;

namespace Tessera.Training.Pool.Exchange;

/// <summary>
/// Ring all-reduce among N workers: a reduce-scatter (N-1 steps: send a chunk of S/N to the right neighbour, add the
/// chunk the left one sends) and then an all-gather (N-1 steps forwarding the finished chunks), so each worker sends
/// and receives 2(N-1)/N of the vector. Partial sums travel encoded, so f16 and int8 round them at every hop; the
/// finished chunks are encoded once by their owner and every worker (the owner too) decodes the same bytes, so all
/// end with the same vector.
/// </summary>
public static class RingAllReduce
{
    /// <summary>The sum of every worker's <paramref name="change"/>; <paramref name="left"/> receives from rank-1, <paramref name="right"/> sends to rank+1.</summary>
    public static async Task<float[]> AllReduceAsync(ExchangeLink left, ExchangeLink right, int rank, int size, ReadOnlyMemory<float> change, DeltaCompression format, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(rank, size);
        var sum = change.ToArray();
        if (size == 1)
            return sum;
        var chunks = Enumerable.Range(0, size).Select(i => Chunk(sum.Length, size, i)).ToArray();
        var encoded = chunks.Select(c => new byte[(int)DeltaCodec.EncodedSize(format, c.Length)]).ToArray();
        var incoming = new byte[encoded.Max(e => e.Length)];
        var scratch = new float[chunks.Max(c => c.Length)];

        for (var step = 0; step < size - 1; step++)
        {
            int send = Mod(rank - step, size), receive = Mod(rank - step - 1, size);
            var (start, length) = chunks[send];
            DeltaCodec.Encode(sum.AsSpan(start, length), format, encoded[send]);
            var message = incoming.AsMemory(0, encoded[receive].Length);
            await Task.WhenAll(right.SendAsync(encoded[send], cancellationToken), left.ReceiveAsync(message, cancellationToken)).ConfigureAwait(false);
            (start, length) = chunks[receive];
            DeltaCodec.Decode(message.Span, format, scratch.AsSpan(0, length));
            TensorPrimitives.Add(sum.AsSpan(start, length), scratch.AsSpan(0, length), sum.AsSpan(start, length));
        }

        var owned = Mod(rank + 1, size);
        Finish(owned);
        for (var step = 0; step < size - 1; step++)
        {
            int send = Mod(rank + 1 - step, size), receive = Mod(rank - step, size);
            await Task.WhenAll(right.SendAsync(encoded[send], cancellationToken), left.ReceiveAsync(encoded[receive], cancellationToken)).ConfigureAwait(false);
            var (start, length) = chunks[receive];
            DeltaCodec.Decode(encoded[receive], format, sum.AsSpan(start, length));
        }
        return sum;

        void Finish(int chunk)
        {
            var (start, length) = chunks[chunk];
            DeltaCodec.Encode(sum.AsSpan(start, length), format, encoded[chunk]);
            DeltaCodec.Decode(encoded[chunk], format, sum.AsSpan(start, length));
        }
    }

    /// <summary>Joins the ring: accepts the left neighbour on <paramref name="listener"/> while connecting to the right one at <paramref name="right"/> (retrying up to 30 s while it starts).</summary>
    public static async Task<(ExchangeLink Left, ExchangeLink Right)> JoinAsync(TcpListener listener, IPEndPoint right, ExchangeIdentity identity, TimeSpan delay, CancellationToken cancellationToken)
    {
        var accept = ExchangeLink.AcceptAsync(listener, identity, delay, cancellationToken);
        var connect = ExchangeLink.ConnectAsync(right, identity, peerIsCoordinator: false, delay, TimeSpan.FromSeconds(30), cancellationToken);
        try
        {
            await Task.WhenAll(accept, connect).ConfigureAwait(false);
        }
        catch
        {
            foreach (var task in new[] { accept, connect }.Where(t => t.IsCompletedSuccessfully))
                await task.Result.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return (accept.Result, connect.Result);
    }

    /// <summary>
    /// Part <paramref name="index"/> of <paramref name="parts"/> near-equal parts of a vector of <paramref name="count"/>,
    /// cut on multiples of the int8 block (the last part takes any remainder), so every chunk encodes like the whole.
    /// </summary>
    public static (int Start, int Length) Chunk(int count, int parts, int index)
    {
        const int block = DeltaCodec.Int8BlockSize;
        var blocks = ((long)count + block - 1) / block;
        var start = Math.Min(count, blocks * index / parts * block);
        var end = Math.Min(count, blocks * (index + 1) / parts * block);
        return ((int)start, (int)(end - start));
    }

    private static int Mod(int value, int size) => ((value % size) + size) % size;
}
