using Tessera.Serving;
using Tessera.Serving.Protocol;

namespace Tessera.Serving.Tests;

public sealed class SilentLinkTests
{
    private static readonly TimeSpan Silence = TimeSpan.FromMilliseconds(2000);

    private static StageStatus Waiting(double ms, double sinceForward) => new() { DownstreamWaitingMs = ms, LastForwardMsAgo = sinceForward };

    private static StageStatus Answered => new();

    [Fact]
    public void TheLinkAfterTheLastWaitingStage_IsTheSilentOne()
    {
        // A cut between stages 1 and 2 of four: stages 0 and 1 wait (nothing comes back through it), 2 and 3 do not.
        StageStatus[] statuses = [Waiting(1990, 1985), Waiting(1980, 1975), Answered, Answered];

        Assert.Equal(1, SilentLink.Find(statuses, Silence));
    }

    [Fact]
    public void NoStageWaiting_NamesNoLink()
    {
        StageStatus[] statuses = [Answered, Answered, Answered];

        Assert.Null(SilentLink.Find(statuses, Silence));
    }

    [Fact]
    public void AShortWait_IsAStepInProgress_NotASilentLink()
    {
        StageStatus[] statuses = [Waiting(1990, 1985), Waiting(40, 40), Answered];

        Assert.Equal(0, SilentLink.Find(statuses, Silence));
    }

    [Fact]
    public void AWaitOnWorkSentLongBeforeTheSilence_IsNoEvidence()
    {
        // Stage 1's lane has waited for minutes on work sent long ago (an idle lane): it says nothing about this silence.
        StageStatus[] statuses = [Waiting(1990, 1985), Waiting(600_000, 600_000), Answered];

        Assert.Equal(0, SilentLink.Find(statuses, Silence));
    }

    [Fact]
    public void TheLastStage_HasNoLinkToName()
    {
        StageStatus[] statuses = [Answered, Answered, Waiting(5000, 5000)];

        Assert.Null(SilentLink.Find(statuses, Silence));
    }

    [Fact]
    public void WorkIsNowhereAfterTheWaitingStage_WhenEveryLaterStageIsIdle()
    {
        StageStatus Idle() => new() { Idle = true };
        StageStatus busy = new() { Idle = false };

        // stage 1 waits on stage 2; 2 and 3 have nothing: the work (or its answer) was lost on the link 1 -> 2
        Assert.True(SilentLink.WorkIsNowhereAfter([Waiting(1990, 1985), Waiting(1980, 1975), Idle(), Idle()], 1));
        // stage 3 still computes (a slow step, the work is in the pipeline), or stage 2 does not say: look again later
        Assert.False(SilentLink.WorkIsNowhereAfter([Waiting(1990, 1985), Waiting(1980, 1975), Idle(), busy], 1));
        Assert.False(SilentLink.WorkIsNowhereAfter([Waiting(1990, 1985), Waiting(1980, 1975), Answered, Idle()], 1));
        // the last stage has no stage after it
        Assert.False(SilentLink.WorkIsNowhereAfter([Waiting(1990, 1985), Idle()], 1));
    }
}
