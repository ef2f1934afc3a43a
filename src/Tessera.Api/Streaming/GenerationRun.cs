using Tessera.Generation;

namespace Tessera.Api.Streaming;

/// <summary>
/// Consumes a generation's tokens and yields the text that may be sent, applying stop strings. The generation says
/// itself why it ended (<see cref="GeneratedToken.Finish"/> on its last token); an end-of-generation token with no
/// text of its own is counted but not sent. After the last piece, <see cref="FinishReason"/> and
/// <see cref="CompletionTokens"/> are known.
/// </summary>
internal sealed class GenerationRun(IAsyncEnumerator<GeneratedToken> tokens, bool hasFirst, IReadOnlyList<string> stops)
{
    public int CompletionTokens { get; private set; }

    /// <summary>Stop (end of generation or a stop string) or Length (the token budget or the context ran out).</summary>
    public FinishReason FinishReason { get; private set; } = FinishReason.Stop;

    public async IAsyncEnumerable<StopSequenceFilter.Release> PiecesAsync()
    {
        var filter = new StopSequenceFilter(stops);
        var has = hasFirst;
        while (has)
        {
            var token = tokens.Current;
            CompletionTokens++;
            if (token.Finish is { } finish)
                FinishReason = finish;
            if (token.Finish != FinishReason.Stop || token.Text.Length > 0)
            {
                var release = filter.Push(token);
                if (!release.IsEmpty)
                    yield return release;
                if (filter.Stopped)
                {
                    FinishReason = FinishReason.Stop;
                    yield break;
                }
            }
            if (token.IsLast)
                break;
            has = await tokens.MoveNextAsync().ConfigureAwait(false);
        }
        var rest = filter.Flush();
        if (!rest.IsEmpty)
            yield return rest;
    }
}
