using Tessera.Pool.Membership;

namespace Tessera.Pool.Tests.Membership;

/// <summary>The interval a pool asks of its agents as it grows, and what the detector expects of a node told a longer one.</summary>
public sealed class HeartbeatIntervalTests
{
    private static readonly FailureDetectorOptions Options = FailureDetectorOptions.Default;

    [Theory]
    [InlineData(0, 1000)]
    [InlineData(1000, 1000)]
    [InlineData(2000, 1000)]
    [InlineData(2001, 1250)]
    [InlineData(3000, 1500)]
    [InlineData(5100, 2750)]
    [InlineData(10000, 5000)]
    [InlineData(50000, 5000)]
    public void IntervalFor_KeepsThePoolsHeartbeatsWithinTheBudget_InQuarterSecondSteps_UpToTheMaximum(int nodes, int expectedMs)
    {
        var interval = Options.IntervalFor(nodes);

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), interval);
        if (interval < Options.MaxHeartbeatInterval)
            Assert.True(nodes / interval.TotalSeconds <= Options.MaxHeartbeatsPerSecond);
    }

    [Fact]
    public void ForInterval_SeedsTheDetectorWithTheLongerInterval_AndKeepsThreeBeatsBeforeTheHardBound()
    {
        var five = Options.ForInterval(TimeSpan.FromSeconds(5));

        Assert.Equal(TimeSpan.FromSeconds(5), five.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(15), five.MaxSilence);
        Assert.Equal(Options.MaxSilence, Options.ForInterval(TimeSpan.FromSeconds(2)).MaxSilence);
        Assert.Same(Options, Options.ForInterval(Options.HeartbeatInterval));
    }

    [Fact]
    public void ANodeBeatingEveryFiveSeconds_StaysAliveWithJitter_AndASilentOneIsDownWithinThreeIntervals()
    {
        var options = Options.ForInterval(TimeSpan.FromSeconds(5));
        var t0 = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var detector = new PhiAccrualFailureDetector(options, t0);
        var at = t0;
        for (var i = 0; i < 40; i++)
        {
            // Each beat up to 300 ms late or early, and the first beats before the detector has learned anything.
            var next = at + TimeSpan.FromMilliseconds(5000 + ((i % 5) - 2) * 150);
            for (var probe = at; probe < next; probe += TimeSpan.FromMilliseconds(250))
                Assert.Equal(LivenessVerdict.Alive, detector.Evaluate(probe));
            detector.Heartbeat(next);
            at = next;
        }

        var silence = TimeSpan.Zero;
        while (detector.Evaluate(at + silence) != LivenessVerdict.Down)
            silence += TimeSpan.FromMilliseconds(250);

        Assert.InRange(silence.TotalSeconds, 5.0, 15.0);
    }
}
