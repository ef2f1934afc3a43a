using Tessera.Engine.Generation;

namespace Tessera.Api.Streaming;

/// <summary>
/// Consumes a generation's tokens and yields the text that may be sent, applying stop strings and telling
/// the end-of-generation token (which ends a sequence before its budget, with empty text) from the others.
/// After the last piece, <see cref="FinishReason"/> and <see cref="CompletionTokens"/> are known.
/// </summary>
internal sealed class GenerationRun(IAsyncEnumerator<GeneratedToken> tokens, bool hasFirst, int maxTokens, IReadOnlyList<string> stops)
{
    public int CompletionTokens { get; private set; }

    /// <summary>"stop" (end of generation or a stop string) or "length" (the token budget ran out).</summary>
    public string FinishReason { get; private set; } = "length";

    public async IAsyncEnumerable<StopSequenceFilter.Release> PiecesAsync()
    {
        var filter = new StopSequenceFilter(stops);
        GeneratedToken? deferred = null;
        var has = hasFirst;
        while (has)
        {
            var token = tokens.Current;
            CompletionTokens++;
            if (deferred is { } held)
            {
                deferred = null;
                var release = filter.Push(held);
                if (!release.IsEmpty)
                    yield return release;
                if (filter.Stopped)
                    break;
            }
            if (token.Text.Length == 0)
            {
                // Could be the end-of-generation token: decided by whether another token follows.
                deferred = token;
            }
            else
            {
                var release = filter.Push(token);
                if (!release.IsEmpty)
                    yield return release;
                if (filter.Stopped)
                    break;
            }
            has = await tokens.MoveNextAsync().ConfigureAwait(false);
        }

        if (filter.Stopped)
        {
            FinishReason = "stop";
            yield break;
        }
        var endedEarly = CompletionTokens < maxTokens;
        if (deferred is { } last && !endedEarly)
        {
            var release = filter.Push(last);
            if (!release.IsEmpty)
                yield return release;
        }
        var rest = filter.Flush();
        if (!rest.IsEmpty)
            yield return rest;
        FinishReason = endedEarly ? "stop" : "length";
    }
}
