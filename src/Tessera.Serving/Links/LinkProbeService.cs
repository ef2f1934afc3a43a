using Grpc.Core;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// The probe end of a link measurement. Any pool member may call it (the TLS handshake admits only current members);
/// each call is bounded, so a member can make it echo or send at most a bounded amount.
/// </summary>
internal sealed class LinkProbeService : LinkProbe.LinkProbeBase
{
    /// <summary>Echoes one call answers before it ends.</summary>
    public const int MaxEchoesPerCall = 10_000;

    /// <summary>Most bytes one push may send.</summary>
    public const long MaxPushBytes = 64L << 20;

    public override async Task Echo(IAsyncStreamReader<ProbeEcho> requestStream, IServerStreamWriter<ProbeEcho> responseStream, ServerCallContext context)
    {
        var answered = 0;
        try
        {
            while (answered < MaxEchoesPerCall && await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
            {
                await responseStream.WriteAsync(requestStream.Current, context.CancellationToken).ConfigureAwait(false);
                answered++;
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The prober went away mid-measurement (it timed out, or its machine did): nothing to answer.
        }
    }

    public override async Task<PushSummary> Push(IAsyncStreamReader<PushChunk> requestStream, ServerCallContext context)
    {
        long received = 0;
        while (await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            received += requestStream.Current.Data.Length;
            if (received > MaxPushBytes)
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"A push carries at most {MaxPushBytes} bytes."));
        }
        return new PushSummary { Bytes = received };
    }
}
