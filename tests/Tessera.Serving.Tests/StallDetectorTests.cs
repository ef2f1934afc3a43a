using Microsoft.Extensions.Time.Testing;
using Tessera.Serving;

namespace Tessera.Serving.Tests;

/// <summary>The stall detector's deadline and verdicts, with time stepped by hand.</summary>
public sealed class StallDetectorTests
{
    private static (StallDetector Detector, FakeTimeProvider Time) Create(StallDetectorOptions? options = null)
    {
        var time = new FakeTimeProvider();
        return (new StallDetector(options, time), time);
    }

    /// <summary>One session decoding: each token answers one position, and the next one is sent at once.</summary>
    private static void Decode(StallDetector detector, FakeTimeProvider time, int steps, Func<int, TimeSpan> stepTime)
    {
        for (var i = 0; i < steps; i++)
        {
            time.Advance(stepTime(i));
            Assert.False(detector.Check().Stalled, $"stalled at step {i}");
            detector.Completed(1);
            detector.Sent(1);
        }
    }

    [Fact]
    public void SteadySteps_NeverStall_AndTheDeadlineIsTheFloor()
    {
        var (detector, time) = Create();
        detector.Sent(1);

        Decode(detector, time, 300, _ => TimeSpan.FromMilliseconds(20));
        time.Advance(TimeSpan.FromMilliseconds(499));

        Assert.False(detector.Check().Stalled);
        Assert.Equal(TimeSpan.FromMilliseconds(500), detector.Deadline);
    }

    [Fact]
    public void ASilentPipeline_StallsAfterTheDeadline_WellWithinTwoSeconds()
    {
        var (detector, time) = Create();
        detector.Sent(1);
        Decode(detector, time, 50, _ => TimeSpan.FromMilliseconds(40));

        time.Advance(TimeSpan.FromMilliseconds(400));
        var before = detector.Check();
        time.Advance(TimeSpan.FromMilliseconds(101));
        var after = detector.Check();

        Assert.False(before.Stalled);
        Assert.True(after.Stalled);
        Assert.Equal(TimeSpan.FromMilliseconds(501), after.Silence);
        Assert.True(after.Deadline < TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void SlowerSteps_GetAProportionalDeadline()
    {
        var (detector, time) = Create();
        detector.Sent(1);
        Decode(detector, time, 50, _ => TimeSpan.FromMilliseconds(150));

        time.Advance(TimeSpan.FromMilliseconds(1400));
        Assert.False(detector.Check().Stalled);
        time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.True(detector.Check().Stalled);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), detector.Deadline);
    }

    [Fact]
    public void ALongPrefill_ScalesTheDeadlineWithItsPositions_AndDoesNotStall()
    {
        // arrange: decode steps of 20 ms measured, then a 2000-position prompt arrives that takes 30 s to answer
        var (detector, time) = Create();
        detector.Sent(1);
        Decode(detector, time, 50, _ => TimeSpan.FromMilliseconds(20));
        detector.Completed(1);

        // act
        detector.Sent(2000);
        time.Advance(TimeSpan.FromSeconds(30));
        var during = detector.Check();
        detector.Completed(2000);

        // assert: 10 x 20 ms per position x 2000 positions = 400 s
        Assert.False(during.Stalled);
        Assert.Equal(TimeSpan.FromSeconds(400), during.Deadline);
        Assert.Equal(0, detector.PositionsInFlight);
    }

    [Fact]
    public void OnceAPromptWasMeasured_ALongPrefillGetsItsPerPositionCostTimesItsLength()
    {
        // arrange: decode steps of 20 ms, and a 100-position prompt answered in 200 ms (2 ms a position)
        var (detector, time) = Create();
        detector.Sent(1);
        Decode(detector, time, 50, _ => TimeSpan.FromMilliseconds(20));
        detector.Completed(1);
        detector.Sent(100);
        time.Advance(TimeSpan.FromMilliseconds(200));
        detector.Completed(100);

        // act
        detector.Sent(2000);
        time.Advance(TimeSpan.FromSeconds(39));
        var during = detector.Check();
        time.Advance(TimeSpan.FromSeconds(2));

        // assert: 10 x 2 ms x 2000 positions = 40 s
        Assert.False(during.Stalled);
        Assert.Equal(TimeSpan.FromSeconds(40), during.Deadline);
        Assert.True(detector.Check().Stalled);
    }

    [Fact]
    public void AnIdlePipeline_NeverStalls_HoweverLongItWaits()
    {
        var (detector, time) = Create();
        detector.Sent(1);
        Decode(detector, time, 50, _ => TimeSpan.FromMilliseconds(20));
        detector.Completed(1);

        time.Advance(TimeSpan.FromHours(1));

        Assert.False(detector.Check().Stalled);
        Assert.Null(detector.Deadline);
    }

    [Fact]
    public void AfterAnIdleSpell_SilenceCountsFromTheNextWorkSent()
    {
        var (detector, time) = Create();
        detector.Sent(1);
        Decode(detector, time, 50, _ => TimeSpan.FromMilliseconds(20));
        detector.Completed(1);
        time.Advance(TimeSpan.FromMinutes(5));

        detector.Sent(1);
        time.Advance(TimeSpan.FromMilliseconds(300));
        var soon = detector.Check();
        time.Advance(TimeSpan.FromMilliseconds(300));

        Assert.False(soon.Stalled);
        Assert.True(detector.Check().Stalled);
    }

    [Fact]
    public void ASlowlyGrowingStepTime_IsFollowed_WithoutAStall()
    {
        // the step time grows 1 % a step, from 20 ms to about 1.2 s (a context filling up on a slow machine)
        var (detector, time) = Create();
        detector.Sent(1);

        Decode(detector, time, 410, i => TimeSpan.FromMilliseconds(20 * Math.Pow(1.01, i)));

        Assert.True(detector.Deadline > TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void JitteryStepsOnABusyMachine_DoNotStall()
    {
        // steps of 20-60 ms with one in fifty taking 200 ms (another process wants the cores)
        var (detector, time) = Create();
        var random = new Random(5);
        detector.Sent(1);

        Decode(detector, time, 1000, i => TimeSpan.FromMilliseconds(i % 50 == 49 ? 200 : random.Next(20, 60)));

        Assert.True(detector.Deadline >= TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void BeforeEnoughStepsAreMeasured_NoStallIsDeclared()
    {
        var (detector, time) = Create();
        detector.Sent(1);
        Decode(detector, time, 8, _ => TimeSpan.FromMilliseconds(20));

        time.Advance(TimeSpan.FromMinutes(1));

        Assert.False(detector.Check().Stalled);
        Assert.Equal(7, detector.Samples);
    }

    [Fact]
    public void TheFirstAnswerOfALane_IsNotMeasured_SoASlowWarmUpDoesNotWidenTheDeadline()
    {
        var (detector, time) = Create();
        detector.Sent(1);
        time.Advance(TimeSpan.FromSeconds(3));
        detector.Completed(1);
        detector.Sent(1);

        Decode(detector, time, 20, _ => TimeSpan.FromMilliseconds(20));

        Assert.Equal(20, detector.Samples);
        Assert.Equal(TimeSpan.FromMilliseconds(500), detector.Deadline);
    }

    [Fact]
    public void AbandonedWork_NoLongerCounts_SoAClosedSessionLeavesThePipelineIdle()
    {
        var (detector, time) = Create();
        detector.Sent(1);
        Decode(detector, time, 20, _ => TimeSpan.FromMilliseconds(20));

        detector.Abandoned(1);
        time.Advance(TimeSpan.FromSeconds(10));

        Assert.False(detector.Check().Stalled);
    }

    [Fact]
    public void ANewLane_KeepsTheMeasuredSteps_ButNothingInFlight()
    {
        var (detector, time) = Create();
        detector.Sent(1);
        Decode(detector, time, 20, _ => TimeSpan.FromMilliseconds(20));

        detector.Reset();
        time.Advance(TimeSpan.FromSeconds(10));
        var idle = detector.Check();
        detector.Sent(1);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(idle.Stalled);
        Assert.True(detector.Check().Stalled);
    }

    [Fact]
    public void Percentile99_IsTheNearestRank()
    {
        var values = Enumerable.Range(1, 200).Select(i => (double)i).Reverse().ToArray();

        Assert.Equal(198, StallDetector.Percentile99(values, 200));
        Assert.Equal(7, StallDetector.Percentile99([7], 1));
    }
}
