using System.Diagnostics;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>One request of the run, with every attempt it took and the failure-free text it must end with.</summary>
internal sealed record RequestRecord(int Client, ChaosPrompt Prompt, string Reference, IReadOnlyList<Attempt> Attempts)
{
    /// <summary>The last attempt ended with [DONE].</summary>
    public bool Completed => Attempts.Count > 0 && Attempts[^1].End == AttemptEnd.Done;

    /// <summary>Completed, but only after sending the request again (as docs/api.md tells clients to resume).</summary>
    public bool Retried => Completed && Attempts.Count > 1;

    /// <summary>
    /// The text is not the failure-free one: a completed attempt with another text, or a cut attempt whose text so far
    /// is not the start of it (a client that showed it would have shown something wrong).
    /// </summary>
    public bool Differs => Attempts.Any(a => a.End == AttemptEnd.Done ? a.Text != Reference : !Reference.StartsWith(a.Text, StringComparison.Ordinal));
}

/// <summary>
/// The clients of a chaos run: each sends streaming completions one after the other (prompts and samplings taken in
/// turn) until the run's end, and resumes a request the documented way when it fails retryably: it sends it again,
/// after Retry-After when there is one.
/// </summary>
internal sealed class ChaosWorkload(Func<HttpClient> http, string model, int maxTokens, IReadOnlyList<ChaosPrompt> prompts, IReadOnlyList<string> references)
{
    /// <summary>How long one request may keep being retried before it counts as failed.</summary>
    public static readonly TimeSpan RetryWindow = TimeSpan.FromSeconds(90);
    private const int MaxAttempts = 60;
    private static readonly TimeSpan BrokenRetryDelay = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    /// <summary>Runs <paramref name="clients"/> clients that start requests until <paramref name="until"/> passes; returns every request.</summary>
    public async Task<List<RequestRecord>> RunAsync(int clients, Func<bool> until, CancellationToken cancellationToken)
    {
        var results = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => ClientAsync(c, clients, until, cancellationToken))).ConfigureAwait(false);
        return results.SelectMany(r => r).ToList();
    }

    private async Task<List<RequestRecord>> ClientAsync(int client, int clients, Func<bool> until, CancellationToken cancellationToken)
    {
        using var connection = http();
        var records = new List<RequestRecord>();
        for (var next = client; !until() && !cancellationToken.IsCancellationRequested; next += clients)
        {
            var index = next % prompts.Count;
            records.Add(new RequestRecord(client, prompts[index], references[index],
                await SendWithRetriesAsync(connection, prompts[index], cancellationToken).ConfigureAwait(false)));
        }
        return records;
    }

    /// <summary>One request, sent again while it fails retryably (within <see cref="RetryWindow"/>).</summary>
    public async Task<List<Attempt>> SendWithRetriesAsync(HttpClient connection, ChaosPrompt prompt, CancellationToken cancellationToken)
    {
        var attempts = new List<Attempt>();
        var clock = Stopwatch.StartNew();
        while (!cancellationToken.IsCancellationRequested)
        {
            var attempt = await StreamingCompletion.SendAsync(connection, model, prompt, maxTokens, cancellationToken).ConfigureAwait(false);
            attempts.Add(attempt);
            if (attempt.End == AttemptEnd.Done || !attempt.Retryable || attempts.Count >= MaxAttempts || clock.Elapsed > RetryWindow)
                break;
            var delay = attempt.RetryAfter ?? (attempt.End == AttemptEnd.Broken ? BrokenRetryDelay : TimeSpan.FromSeconds(1));
            await Task.Delay(delay < MaxRetryDelay ? delay : MaxRetryDelay, cancellationToken).ConfigureAwait(false);
        }
        return attempts;
    }
}
