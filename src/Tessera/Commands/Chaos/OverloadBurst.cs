using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Tessera.Pool.Bench;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>What a burst beyond capacity got: answers by kind and the coordinator's resident memory around it.</summary>
internal sealed record BurstResult(int Sent, int Served, int Refused429, int Refused429WithoutRetryAfter, int Other, long RssBeforeBytes, long RssPeakBytes)
{
    /// <summary>Every request was served or refused with 429 and Retry-After, and at least one was refused (the queue's bound held).</summary>
    public bool Bounded => Other == 0 && Refused429WithoutRetryAfter == 0 && Refused429 > 0;
}

/// <summary>
/// Fires many more requests than the deployment can run and queue, all at once, while sampling the coordinator's
/// resident memory: the excess must be refused with 429 and Retry-After, and memory must not grow with the burst.
/// </summary>
internal static class OverloadBurst
{
    public static async Task<BurstResult> RunAsync(HttpClient http, string model, int requests, int coordinatorPid, CancellationToken cancellationToken)
    {
        var before = ProcessSampler.ResidentBytes(coordinatorPid);
        var peak = before;
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                try
                {
                    peak = Math.Max(peak, ProcessSampler.ResidentBytes(coordinatorPid));
                    await Task.Delay(50, sampling.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException)
                {
                    return;
                }
            }
        }, CancellationToken.None);

        var body = JsonSerializer.Serialize(new { model, prompt = "The burst", max_tokens = 8, temperature = 0 });
        var answers = await Task.WhenAll(Enumerable.Range(0, requests).Select(async _ =>
        {
            try
            {
                using var response = await http.PostAsync("v1/completions", new StringContent(body, Encoding.UTF8, "application/json"), cancellationToken).ConfigureAwait(false);
                await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                return (response.StatusCode, response.Headers.RetryAfter is not null);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                return ((HttpStatusCode)0, false);
            }
        })).ConfigureAwait(false);
        await sampling.CancelAsync().ConfigureAwait(false);
        await sampler.ConfigureAwait(false);

        return new BurstResult(requests,
            answers.Count(a => a.Item1 == HttpStatusCode.OK),
            answers.Count(a => a.Item1 == HttpStatusCode.TooManyRequests),
            answers.Count(a => a.Item1 == HttpStatusCode.TooManyRequests && !a.Item2),
            answers.Count(a => a.Item1 is not (HttpStatusCode.OK or HttpStatusCode.TooManyRequests)),
            before, peak);
    }
}
