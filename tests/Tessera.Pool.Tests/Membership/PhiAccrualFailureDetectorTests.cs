using Tessera.Pool.Membership;

namespace Tessera.Pool.Tests.Membership;

public sealed class PhiAccrualFailureDetectorTests
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly FailureDetectorOptions Options = FailureDetectorOptions.Default;

    private static PhiAccrualFailureDetector SteadyDetector(int beats, out DateTimeOffset last)
    {
        var detector = new PhiAccrualFailureDetector(Options, T0);
        last = T0;
        for (var i = 1; i <= beats; i++)
        {
            last = T0 + TimeSpan.FromMilliseconds(i * 1000 + (i % 3 * 10));
            detector.Heartbeat(last);
        }
        return detector;
    }

    [Fact]
    public void Phi_JustAfterAHeartbeat_IsNearZero()
    {
        var detector = SteadyDetector(20, out var last);

        Assert.True(detector.Phi(last + TimeSpan.FromMilliseconds(100)) < 0.1);
        Assert.Equal(LivenessVerdict.Alive, detector.Evaluate(last + TimeSpan.FromMilliseconds(1000)));
    }

    [Fact]
    public void Phi_GrowsMonotonicallyWithSilence()
    {
        var detector = SteadyDetector(20, out var last);

        var previous = -1.0;
        for (var ms = 0; ms <= 6000; ms += 100)
        {
            var phi = detector.Phi(last + TimeSpan.FromMilliseconds(ms));
            Assert.True(phi >= previous, $"phi fell at {ms} ms");
            previous = phi;
        }
    }

    [Fact]
    public void SteadyHeartbeats_ThenSilence_GoSuspectThenDownWithinTheDocumentedBound()
    {
        var detector = SteadyDetector(30, out var last);

        Assert.Equal(LivenessVerdict.Alive, detector.Evaluate(last + TimeSpan.FromMilliseconds(1500)));
        Assert.Equal(LivenessVerdict.Suspect, detector.Evaluate(last + TimeSpan.FromMilliseconds(2000)));
        Assert.Equal(LivenessVerdict.Down, detector.Evaluate(last + TimeSpan.FromMilliseconds(3000)));
    }

    [Fact]
    public void NoisyHistory_StillDeclaresDownAtMaxSilence()
    {
        var detector = new PhiAccrualFailureDetector(Options, T0);
        var at = T0;
        var random = new Random(7);
        for (var i = 0; i < 50; i++)
        {
            at += TimeSpan.FromMilliseconds(random.Next(200, 6000));
            detector.Heartbeat(at);
        }

        Assert.NotEqual(LivenessVerdict.Down, detector.Evaluate(at + TimeSpan.FromSeconds(5)));
        Assert.Equal(LivenessVerdict.Down, detector.Evaluate(at + Options.MaxSilence));
    }

    [Fact]
    public void FirstHeartbeatOnly_UsesTheExpectedIntervalEstimate()
    {
        var detector = new PhiAccrualFailureDetector(Options, T0);

        Assert.Equal(LivenessVerdict.Alive, detector.Evaluate(T0 + TimeSpan.FromMilliseconds(1200)));
        Assert.Equal(LivenessVerdict.Down, detector.Evaluate(T0 + TimeSpan.FromSeconds(4)));
    }

    [Fact]
    public void Heartbeat_OutOfOrder_IsIgnored()
    {
        var detector = SteadyDetector(5, out var last);
        var samples = detector.SampleCount;

        detector.Heartbeat(last - TimeSpan.FromMilliseconds(500));

        Assert.Equal(samples, detector.SampleCount);
        Assert.Equal(last, detector.LastHeartbeat);
    }

    [Fact]
    public void SampleWindow_KeepsOnlyTheMostRecentIntervals()
    {
        var options = Options with { MaxSampleSize = 10 };
        var detector = new PhiAccrualFailureDetector(options, T0);
        var at = T0;
        for (var i = 0; i < 30; i++)
        {
            at += TimeSpan.FromMilliseconds(500);
            detector.Heartbeat(at);
        }

        Assert.Equal(10, detector.SampleCount);
        Assert.Equal(500, detector.MeanIntervalMs, 6);
    }

    [Fact]
    public void ComputePhi_MatchesKnownValuesOfTheLogisticApproximation()
    {
        Assert.Equal(0.30103, PhiAccrualFailureDetector.ComputePhi(1000, 1000, 100), 4); // F = 0.5
        Assert.True(PhiAccrualFailureDetector.ComputePhi(2000, 1000, 100) > 8);
        Assert.Equal(PhiAccrualFailureDetector.MaxPhi, PhiAccrualFailureDetector.ComputePhi(1e9, 1000, 100));
    }

    [Fact]
    public void Constructor_RejectsThresholdsOutOfOrder()
    {
        var bad = Options with { SuspectThreshold = 9, DownThreshold = 8 };

        Assert.Throws<ArgumentOutOfRangeException>(() => new PhiAccrualFailureDetector(bad, T0));
    }
}
