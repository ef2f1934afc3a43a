using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// The bookkeeping of resuming a session on a new pipeline, without I/O: what is replayed and whether the
/// session may be recovered again. A replay sends the whole prefix (prompt and every token generated so far)
/// from position 0 and samples the next step, so the new stages rebuild the KV cache the lost ones held
/// (batch invariance makes it identical) and the seeded draw continues at the same step.
/// </summary>
internal static class SessionReplay
{
    /// <summary>The work entry that rebuilds a session on fresh stages and samples its next token.</summary>
    public static WorkEntry Entry(ulong session, ReadOnlySpan<int> prompt, IReadOnlyList<int> generated)
    {
        var entry = new WorkEntry { Session = session, Start = 0, SampleStep = generated.Count };
        entry.Tokens.Capacity = prompt.Length + generated.Count;
        foreach (var t in prompt)
            entry.Tokens.Add(t);
        entry.Tokens.Add(generated);
        return entry;
    }

    /// <summary>Null when the session may be recovered once more; otherwise why not (the message a client sees).</summary>
    public static string? Refusal(int recoveriesSoFar, int maxRecoveries, int positions, int contextLength, string reason)
    {
        if (recoveriesSoFar >= maxRecoveries)
            return $"The pipeline failed ({reason}) and the session was already resumed {recoveriesSoFar} time(s), the most allowed; retry the request.";
        if (positions > contextLength)
            return $"The pipeline failed ({reason}) and the replacement holds {contextLength} positions, fewer than the session's {positions}; retry the request.";
        return null;
    }
}
