using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>How much one link measurement may cost: the echoes, their spacing and the transfer.</summary>
public sealed record LinkProbeBudget
{
    /// <summary>The default: 20 echoes 10 ms apart and a 1 MiB transfer, about 0.3 s and 1 MiB on a fast link.</summary>
    public static LinkProbeBudget Default { get; } = new();

    /// <summary>Echoes timed, after one that opens the connection and is not counted.</summary>
    public int Echoes { get; init; } = 20;

    /// <summary>Pause between echoes, so the samples spread over time as a stream's tokens do.</summary>
    public TimeSpan EchoInterval { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>An echo not answered within this counts as lost.</summary>
    public TimeSpan EchoTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Time allowed to connect (TCP, TLS, the first echo); a peer that does not answer in it is unreachable.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Bytes sent to measure throughput (0: none).</summary>
    public long PushBytes { get; init; } = 1 << 20;

    /// <summary>Bound on the whole measurement.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Measures the link to a peer's <see cref="LinkProbeServer"/>: round-trip times of echoes on one open stream (so
/// connection setup is left out, as it is for a lane), then the throughput of a bounded transfer.
/// </summary>
public static class LinkMeasurer
{
    public static async Task<LinkMeasurement> MeasureAsync(string endpoint, StageTls? tls, LinkProbeBudget budget, CancellationToken cancellation = default)
    {
        using var overall = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        overall.CancelAfter(budget.Timeout);
        var token = overall.Token;
        try
        {
            using var channel = StageChannels.Create(endpoint, tls);
            var client = new LinkProbe.LinkProbeClient(channel);
            var (rtts, sent) = await EchoAsync(client, budget, token).ConfigureAwait(false);
            var median = LinkStatistics.Percentile([.. rtts.Order()], 0.5);
            var bandwidth = budget.PushBytes > 0 ? await PushAsync(client, budget.PushBytes, median, token).ConfigureAwait(false) : 0;
            return LinkStatistics.Summarise(rtts.ToArray(), sent, bandwidth);
        }
        catch (Exception e) when (e is RpcException or IOException or HttpRequestException or OperationCanceledException or TimeoutException && !cancellation.IsCancellationRequested)
        {
            return LinkMeasurement.Unreachable(Describe(e, endpoint, budget));
        }
    }

    private static async Task<(List<double> Rtts, int Sent)> EchoAsync(LinkProbe.LinkProbeClient client, LinkProbeBudget budget, CancellationToken token)
    {
        using var call = client.Echo(cancellationToken: token);
        // Answers are matched by sequence on a reader of their own: a late answer must not be taken for a later echo,
        // and a read cannot be given a timeout of its own without ending the call.
        var waiting = new ConcurrentDictionary<long, TaskCompletionSource<long>>();
        var reader = Task.Run(async () =>
        {
            await foreach (var echo in call.ResponseStream.ReadAllAsync(token).ConfigureAwait(false))
            {
                if (waiting.TryRemove(echo.Sequence, out var answer))
                    answer.TrySetResult(Stopwatch.GetTimestamp());
            }
        }, token);

        var rtts = new List<double>(budget.Echoes);
        if (await RoundTripAsync(call, waiting, 0, budget.ConnectTimeout, reader, token).ConfigureAwait(false) is null)
            throw new TimeoutException("the first echo was not answered");
        var sent = 0;
        for (var sequence = 1; sequence <= budget.Echoes; sequence++)
        {
            await Task.Delay(budget.EchoInterval, token).ConfigureAwait(false);
            sent++;
            if (await RoundTripAsync(call, waiting, sequence, budget.EchoTimeout, reader, token).ConfigureAwait(false) is { } rtt)
                rtts.Add(rtt);
        }
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        return (rtts, sent);
    }

    /// <summary>One echo's round trip in milliseconds, or null when it was not answered within <paramref name="timeout"/>.</summary>
    private static async Task<double?> RoundTripAsync(AsyncDuplexStreamingCall<ProbeEcho, ProbeEcho> call, ConcurrentDictionary<long, TaskCompletionSource<long>> waiting,
        long sequence, TimeSpan timeout, Task reader, CancellationToken token)
    {
        var answer = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        waiting[sequence] = answer;
        var start = Stopwatch.GetTimestamp();
        await call.RequestStream.WriteAsync(new ProbeEcho { Sequence = sequence }, token).ConfigureAwait(false);
        var done = await Task.WhenAny(answer.Task, reader, Task.Delay(timeout, token)).ConfigureAwait(false);
        if (done == answer.Task)
            return Stopwatch.GetElapsedTime(start, answer.Task.Result).TotalMilliseconds;
        waiting.TryRemove(sequence, out _);
        if (done == reader)
            await reader.ConfigureAwait(false); // the stream ended or failed: that, not a loss
        token.ThrowIfCancellationRequested();
        return null;
    }

    /// <summary>
    /// Throughput of a push of <paramref name="bytes"/> in 64 KiB chunks: bytes over the time from the first chunk to
    /// the answer, less one round trip (the answer's way back is latency, not transfer).
    /// </summary>
    private static async Task<double> PushAsync(LinkProbe.LinkProbeClient client, long bytes, double rttMs, CancellationToken token)
    {
        var start = Stopwatch.GetTimestamp();
        using var call = client.Push(cancellationToken: token);
        for (var left = bytes; left > 0; left -= Chunk.Length)
            await call.RequestStream.WriteAsync(new PushChunk { Data = left >= Chunk.Length ? Chunk : ByteString.CopyFrom(new byte[left]) }, token).ConfigureAwait(false);
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        var summary = await call.ResponseAsync.ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var transfer = Math.Max(seconds - rttMs / 1000, seconds / 2); // never deduct more than half the time
        return transfer > 0 ? summary.Bytes / transfer : 0;
    }

    private static readonly ByteString Chunk = ByteString.CopyFrom(new byte[64 * 1024]);

    private static string Describe(Exception e, string endpoint, LinkProbeBudget budget) => e switch
    {
        RpcException rpc => $"{endpoint} did not answer the link probe: {rpc.Status.StatusCode} {(rpc.Status.DebugException?.Message ?? rpc.Status.Detail)}",
        OperationCanceledException or TimeoutException => $"{endpoint} did not answer the link probe within {(e is TimeoutException ? budget.ConnectTimeout : budget.Timeout).TotalSeconds:0.#} s",
        _ => $"{endpoint} did not answer the link probe: {e.Message}",
    };
}
