using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// Which link of a stalled pipeline carries nothing, when every stage still answers the driver: each stage says how
/// long it has waited for its next stage's answer to work it sent (<see cref="StageStatus.DownstreamWaitingMs"/>). Every
/// stage before a silent link waits (nothing comes back through it), the stages after it do not (their work was
/// answered), so the link is the one after the last stage that waits — for about as long as the pipeline has been
/// silent, on work it sent during that silence (a lane idle for long is no evidence). A stage wedged in its own work
/// looks the same as a cut link into it; either way its node is the one to leave out. Pure.
/// </summary>
public static class SilentLink
{
    /// <summary>A stage counts as waiting when it has waited at least this share of the pipeline's silence.</summary>
    public const double WaitingShare = 0.5;

    /// <param name="statuses">Every stage's status, in pipeline order.</param>
    /// <param name="silence">How long the pipeline has been silent (no token came back to the driver).</param>
    /// <returns>The index of the stage whose link to the next one is silent, or null when no stage waits on its next one.</returns>
    public static int? Find(IReadOnlyList<StageStatus> statuses, TimeSpan silence)
    {
        var silentMs = silence.TotalMilliseconds;
        for (var k = statuses.Count - 2; k >= 0; k--)
        {
            var s = statuses[k];
            if (s.DownstreamWaitingMs >= WaitingShare * silentMs && s.LastForwardMsAgo <= (1.5 * silentMs) + 250)
                return k;
        }
        return null;
    }

    /// <summary>
    /// Whether the work stage <paramref name="k"/> waits on is in none of the stages after it: every one of them says it
    /// is idle (nothing queued, nothing computing, nothing left to send). Then the work, or its answer, was lost on the
    /// link after stage <paramref name="k"/>, and no slow step can still bring it back: the link needs no second look.
    /// A stage that does not say it is idle (busy, or too old to say) leaves the question open.
    /// </summary>
    public static bool WorkIsNowhereAfter(IReadOnlyList<StageStatus> statuses, int k)
    {
        for (var j = k + 1; j < statuses.Count; j++)
        {
            if (!statuses[j].Idle)
                return false;
        }
        return k + 1 < statuses.Count;
    }
}
