using Tessera.Deploy;

namespace Tessera.Deploy.Tests;

/// <summary>When a deployment looks for a better plan: time is stepped by hand (seconds from an arbitrary origin).</summary>
public sealed class ImproveTimerTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Backoff = TimeSpan.FromMinutes(5);

    private static TimeSpan At(double seconds) => TimeSpan.FromSeconds(seconds);

    private static ImproveTimer Timer(double start = 0) => new(At(start), Interval, Settle, Backoff);

    [Fact]
    public void WithNothingHappening_ChecksOnceAnInterval()
    {
        var timer = Timer();

        Assert.False(timer.IsDue(At(59)));
        Assert.True(timer.IsDue(At(60)));
        timer.Checked(At(60));
        Assert.False(timer.IsDue(At(119)));
        Assert.True(timer.IsDue(At(120)));
        Assert.Null(timer.Trigger);
    }

    [Fact]
    public void ANodeBecomingReady_BringsTheCheckForwardToAfterTheSettleTime_AndNamesIt()
    {
        var timer = Timer();
        timer.Checked(At(100));

        timer.NodeReady(At(130), "node fast returned");

        Assert.False(timer.IsDue(At(131)));
        Assert.True(timer.IsDue(At(132)));
        Assert.Equal("node fast returned", timer.Trigger);
        timer.Checked(At(132));
        Assert.Null(timer.Trigger);
        Assert.False(timer.IsDue(At(150)));
    }

    [Fact]
    public void AfterAPlanChange_NoCheckComesWithinTheInterval_EvenWhenANodeArrives()
    {
        // a recovery moved the deployment at 100; the lost node returns at 105
        var timer = Timer();
        timer.PlanChanged(At(100));

        timer.NodeReady(At(105), "node b returned");

        Assert.False(timer.IsDue(At(107)));
        Assert.False(timer.IsDue(At(159)));
        Assert.True(timer.IsDue(At(160)));
        Assert.Equal(At(160), timer.DueAt);
        Assert.Equal("node b returned", timer.Trigger);
    }

    [Fact]
    public void AFailedMove_BacksOffLongerThanTheInterval()
    {
        var timer = Timer();
        timer.Checked(At(60));
        timer.MoveFailed(At(61));

        timer.NodeReady(At(70), "node c joined");

        Assert.False(timer.IsDue(At(120)));
        Assert.False(timer.IsDue(At(360)));
        Assert.True(timer.IsDue(At(361)));
    }

    [Fact]
    public void SeveralNodesArriving_AreNamedOnceEach()
    {
        var timer = Timer();

        timer.NodeReady(At(10), "node b returned");
        timer.NodeReady(At(11), "node c joined");
        timer.NodeReady(At(12), "node b returned");

        Assert.Equal("node b returned, node c joined", timer.Trigger);
        Assert.True(timer.IsDue(At(60)));
    }

    [Fact]
    public void AnOlderPlanChange_DoesNotShortenTheWait()
    {
        var timer = Timer();
        timer.PlanChanged(At(100));

        timer.PlanChanged(At(90));

        Assert.False(timer.IsDue(At(155)));
    }
}
