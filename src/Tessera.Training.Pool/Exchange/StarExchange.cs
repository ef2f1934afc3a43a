using System.Numerics.Tensors;

namespace Tessera.Training.Pool.Exchange;

/// <summary>
/// A reduce through the coordinator: every worker uploads its encoded change, the coordinator decodes each, checks it
/// (finite, as production's rejection of poisoned contributions needs) and sums the accepted ones, then sends the
/// encoded sum back to every worker. The coordinator's link carries N uploads in and N downloads out.
/// </summary>
public static class StarExchange
{
    /// <summary>The worker's side: uploads <paramref name="change"/>, returns the sum of the accepted changes, as every worker gets it.</summary>
    public static async Task<float[]> WorkerAsync(ExchangeLink coordinator, ReadOnlyMemory<float> change, DeltaCompression format, CancellationToken cancellationToken)
    {
        var encoded = new byte[(int)DeltaCodec.EncodedSize(format, change.Length)];
        DeltaCodec.Encode(change.Span, format, encoded);
        await coordinator.SendAsync(encoded, cancellationToken).ConfigureAwait(false);
        await coordinator.ReceiveAsync(encoded, cancellationToken).ConfigureAwait(false);
        var sum = new float[change.Length];
        DeltaCodec.Decode(encoded, format, sum);
        return sum;
    }

    /// <summary>
    /// The coordinator's side of one exchange of <paramref name="count"/> parameters: decodes and checks each upload as it
    /// arrives, sends the sum to all. Returns how many contributions it accepted (a non-finite one is left out).
    /// </summary>
    public static async Task<int> CoordinatorAsync(IReadOnlyList<ExchangeLink> workers, int count, DeltaCompression format, CancellationToken cancellationToken)
    {
        var length = (int)DeltaCodec.EncodedSize(format, count);
        var sum = new float[count];
        var scratch = new float[count];
        var accepted = 0;
        var uploads = workers.Select(async link =>
        {
            var buffer = new byte[length];
            await link.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer;
        }).ToList();
        await foreach (var upload in Task.WhenEach(uploads).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            var buffer = await upload.ConfigureAwait(false);
            DeltaCodec.Decode(buffer, format, scratch);
            if (!float.IsFinite(TensorPrimitives.Norm(scratch)))
                continue;
            TensorPrimitives.Add(sum, scratch, sum);
            accepted++;
        }
        var result = new byte[length];
        DeltaCodec.Encode(sum, format, result);
        await Task.WhenAll(workers.Select(link => link.SendAsync(result, cancellationToken))).ConfigureAwait(false);
        return accepted;
    }
}
