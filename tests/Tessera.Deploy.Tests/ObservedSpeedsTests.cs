namespace Tessera.Deploy.Tests;

/// <summary>
/// Speeds learned from stages' step times, fed by hand (counters and times passed in): samples, the median that keeps
/// noise out, calibration of nodes never observed, expiry; and the words that bring an improvement check forward.
/// </summary>
public sealed class ObservedSpeedsTests
{
    private const double Bytes = 1e9; // read per pass: 1 GB, so 0.1 s a pass is 10 GB/s

    private static readonly StageSpeedOptions Options = StageSpeedOptions.Default;

    private static TimeSpan At(double seconds) => TimeSpan.FromSeconds(seconds);

    /// <summary>Feeds <paramref name="samples"/> samples of 20 passes each at the given seconds per pass (one a second).</summary>
    private static void Feed(ObservedSpeeds speeds, string node, params double[] secondsPerPass)
    {
        var key = "dep/0/" + node;
        speeds.Observe(key, node, At(0), 0, 0, Bytes); // the baseline
        long passes = 0;
        double seconds = 0;
        for (var i = 0; i < secondsPerPass.Length; i++)
        {
            passes += 20;
            seconds += 20 * secondsPerPass[i];
            speeds.Observe(key, node, At(i + 1), passes, seconds, Bytes);
        }
    }

    [Fact]
    public void ANodeHasNoObservedSpeed_UntilEnoughSamplesOfEnoughPasses()
    {
        var speeds = new ObservedSpeeds(Options);
        speeds.Observe("s", "b", At(0), 100, 10, Bytes);

        // 10 passes in half a second: too few to be a sample; they count toward the next one
        Assert.Null(speeds.Observe("s", "b", At(1), 110, 10.5, Bytes));
        Assert.Equal(20, speeds.Observe("s", "b", At(2), 120, 11, Bytes)!.Value, 6);
        Assert.Equal(20, speeds.Observe("s", "b", At(3), 140, 12, Bytes)!.Value, 6);
        Assert.Null(speeds.Observed("b", At(3))); // two samples of the three needed

        speeds.Observe("s", "b", At(4), 160, 13, Bytes);
        Assert.Equal(20, speeds.Observed("b", At(4))!.Value, 6);
    }

    [Fact]
    public void ASlowStage_MakesASampleFromASecondOfPasses_WithoutWaitingForSixteen()
    {
        var speeds = new ObservedSpeeds(Options);
        speeds.Observe("s", "b", At(0), 0, 0, Bytes);

        Assert.Null(speeds.Observe("s", "b", At(2), 1, 2.0, Bytes)); // one pass, however long, is no sample
        Assert.Equal(Bytes * 3 / 3.2 / 1e9, speeds.Observe("s", "b", At(4), 3, 3.2, Bytes)!.Value, 6);
    }

    [Fact]
    public void OneOutlierInEitherDirection_DoesNotMoveTheSpeed()
    {
        var speeds = new ObservedSpeeds(Options);

        // 10 GB/s, a pass stalled for a GC pause (5x slower), 10, a burst (4x faster), 10
        Feed(speeds, "b", 0.1, 0.5, 0.1, 0.025, 0.1);

        Assert.Equal(10, speeds.Observed("b", At(6))!.Value, 6);
    }

    [Fact]
    public void ANodeThatBecomesSlow_IsSeenSlowOnceTwoSamplesInARowSaySo()
    {
        var speeds = new ObservedSpeeds(Options);
        Feed(speeds, "b", 0.1, 0.1, 0.1, 0.1, 0.1, 0.3);
        Assert.Equal(10, speeds.Observed("b", At(7))!.Value, 6); // one slow sample: an outlier until the next says so too

        speeds.Observe("dep/0/b", "b", At(8), 140, 20 * (5 * 0.1 + 2 * 0.3), Bytes);

        // the window's median (three fast of five) still says 10; the last two agree it changed
        Assert.Equal(10 / 3.0, speeds.Observed("b", At(8))!.Value, 6);
    }

    [Fact]
    public void TwoSamplesInARow_ThatMovedLessThanTheDriftFactor_LeaveTheMedian()
    {
        var speeds = new ObservedSpeeds(Options);
        Feed(speeds, "b", 0.1, 0.1, 0.1, 0.15, 0.15); // 1.5x slower twice: busy-machine noise, not a change

        Assert.Equal(10, speeds.Observed("b", At(6))!.Value, 6);
    }

    [Fact]
    public void CountersThatGoBack_AreARestartedStage_AndStartAfreshInsteadOfASample()
    {
        var speeds = new ObservedSpeeds(Options);
        speeds.Observe("s", "b", At(0), 1000, 100, Bytes);

        Assert.Null(speeds.Observe("s", "b", At(1), 5, 0.5, Bytes));
        Assert.Equal(10, speeds.Observe("s", "b", At(2), 25, 2.5, Bytes)!.Value, 6);
    }

    [Fact]
    public void ALastStageThatTimesItsHead_IsMeasuredOnItsLayers_AndTheHeadsEfficiencyIsLearnedApart()
    {
        // a holds three layers (1 GB a pass, 0.1 s: 10 GB/s). b, as fast, holds one layer (0.25 GB, 0.025 s) and the head
        // (1 GB in 0.05 s: twice as fast per byte). Without the head's time b would show 1.25 GB / 0.075 s = 16.7 GB/s and
        // look faster than a; with it both are 10, and the head is learned to stream 2x faster.
        var speeds = new ObservedSpeeds(Options);
        speeds.Observe("a", "a", At(0), 0, 0, Bytes);
        speeds.Observe("b", "b", At(0), 0, 0, 1.25e9, 0, 1e9);
        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal(10, speeds.Observe("a", "a", At(i), 20 * i, 2.0 * i, Bytes)!.Value, 6);
            Assert.Equal(10, speeds.Observe("b", "b", At(i), 20 * i, 1.5 * i, 1.25e9, 1.0 * i, 1e9)!.Value, 6);
            if (i < 3)
                Assert.Null(speeds.HeadSpeedFactor(At(i))); // two samples of the three needed
        }
        Assert.Equal(2, speeds.HeadSpeedFactor(At(3))!.Value, 6);

        Assert.Equal(10, speeds.Observed("b", At(3))!.Value, 6);
        Assert.Null(speeds.HeadSpeedFactor(At(3) + Options.SampleLifetime + TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void AStageThatDoesNotTimeItsHead_IsMeasuredWhole_AndTeachesNoHeadFactor()
    {
        var speeds = new ObservedSpeeds(Options);
        speeds.Observe("b", "b", At(0), 0, 0, 1.25e9, 0, 1e9);
        for (var i = 1; i <= 3; i++)
            Assert.Equal(1.25e9 * 20 / 1.5 / 1e9, speeds.Observe("b", "b", At(i), 20 * i, 1.5 * i, 1.25e9, 0, 1e9)!.Value, 6);

        Assert.Null(speeds.HeadSpeedFactor(At(3)));
    }

    [Fact]
    public void SamplesExpire_AndTheNodeGoesBackToItsProbe()
    {
        var speeds = new ObservedSpeeds(Options with { SampleLifetime = TimeSpan.FromMinutes(10) });
        Feed(speeds, "b", 0.3, 0.3, 0.3);
        var probed = new Dictionary<string, double> { ["b"] = 20 };
        Assert.Equal(10 / 3.0, speeds.Effective(probed, At(60))["b"], 6);

        Assert.Null(speeds.Observed("b", At(602)));
        Assert.Equal(20, speeds.Effective(probed, At(602))["b"], 6);
    }

    [Fact]
    public void NodesNeverObserved_KeepTheirProbe_ScaledLikeTheObservedOnes()
    {
        // the probe says 20 GB/s everywhere; decoding shows a and b at 10: c, never observed, is taken to be 10 as well,
        // not twice as fast as the others (which would draw the whole model onto it, to be observed slow and moved back)
        var speeds = new ObservedSpeeds(Options);
        Feed(speeds, "a", 0.1, 0.1, 0.1);
        Feed(speeds, "b", 0.1, 0.1, 0.1);
        var probed = new Dictionary<string, double> { ["a"] = 20, ["b"] = 20, ["c"] = 20, ["unmeasured"] = 0 };

        var effective = speeds.Effective(probed, At(10));

        Assert.Equal(10, effective["a"], 6);
        Assert.Equal(10, effective["c"], 6);
        Assert.False(effective.ContainsKey("unmeasured"));
    }

    [Fact]
    public void DevicesNeverObserved_AreScaledLikeTheObservedOnesOfTheirKind_OrLikeAnyWhereNoneOfTheirKindIs()
    {
        // CPUs decode at half their probe; a GPU at a third of its copy kernel's figure
        var speeds = new ObservedSpeeds(Options);
        Feed(speeds, "a/cpu", 0.1, 0.1, 0.1); // 10 GB/s
        Feed(speeds, "g/gpu0", 0.003, 0.003, 0.003); // 333 GB/s
        var probed = new Dictionary<string, double> { ["a/cpu"] = 20, ["b/cpu"] = 20, ["g/gpu0"] = 1000, ["h/gpu0"] = 1000 };

        var effective = speeds.Effective(probed, At(10));

        Assert.Equal(10, effective["b/cpu"], 6);
        Assert.Equal(1000 / 3.0, effective["h/gpu0"], 6);
        // before any GPU was observed, a GPU is scaled like the CPUs
        var cpusOnly = new ObservedSpeeds(Options);
        Feed(cpusOnly, "a/cpu", 0.1, 0.1, 0.1);
        Assert.Equal(500, cpusOnly.Effective(probed, At(10))["h/gpu0"], 6);
    }

    [Fact]
    public void WithTwoNodesObserved_OneOfThemSlow_ANodeNeverObservedIsTakenToBeLikeTheHealthyOne()
    {
        var speeds = new ObservedSpeeds(Options);
        Feed(speeds, "a", 0.1, 0.1, 0.1);
        Feed(speeds, "b", 0.5, 0.5, 0.5);

        var effective = speeds.Effective(new Dictionary<string, double> { ["a"] = 20, ["b"] = 20, ["c"] = 20 }, At(10));

        Assert.Equal(10, effective["c"], 6);
    }

    [Fact]
    public void IdenticalDevicesWithUnevenProbes_AreObservedEqual()
    {
        // the probe measured 17.7, 23.3 and 44.4 GB/s on three identical cores; their stages decode at one speed
        var speeds = new ObservedSpeeds(Options);
        foreach (var node in new[] { "a", "b", "c" })
            Feed(speeds, node, 0.1, 0.11, 0.09);

        var effective = speeds.Effective(new Dictionary<string, double> { ["a"] = 17.7, ["b"] = 23.3, ["c"] = 44.4 }, At(10));

        Assert.All(effective.Values, v => Assert.Equal(10, v, 6));
    }

    private static StoredStage Stage(int index, string node) =>
        new(0, index, node, "node-" + node, index * 2, index * 2 + 2, 1, 1, 1, "sha", 1, "path");

    [Fact]
    public void SpeedDrift_NamesANodeThreeTimesSlowerThanPlanned_AndNothingWithinTheFactor()
    {
        IReadOnlyList<StoredStage> stages = [Stage(0, "a"), Stage(1, "b"), Stage(2, "c")];
        var probed = new Dictionary<string, double> { ["a/cpu"] = 20, ["b/cpu"] = 20, ["c/cpu"] = 20 };
        var weighed = new Dictionary<string, double> { ["a/cpu"] = 10, ["b/cpu"] = 10 }; // c: never weighed, counts with its probe
        var effective = new Dictionary<string, double> { ["a/cpu"] = 12, ["b/cpu"] = 3.2, ["c/cpu"] = 19 };

        var drift = SpeedDrift.Find(stages, weighed, probed, effective, new HashSet<string> { "a/cpu", "b/cpu", "c/cpu" }, 1.5);

        var (node, words) = Assert.Single(drift);
        Assert.Equal("b/cpu", node);
        Assert.Equal("stage 1 on node node-b is 3.1x slower than planned: 3.2 GB/s from its step times, planned with 10 GB/s (its probe said 20)", words);
    }

    [Fact]
    public void SpeedDrift_WaitsUntilEveryNodeOfThePlanIsObserved()
    {
        IReadOnlyList<StoredStage> stages = [Stage(0, "a"), Stage(1, "b")];
        var probed = new Dictionary<string, double> { ["a/cpu"] = 20, ["b/cpu"] = 20 };
        var effective = new Dictionary<string, double> { ["a/cpu"] = 2, ["b/cpu"] = 2 };

        Assert.Empty(SpeedDrift.Find(stages, probed, probed, effective, new HashSet<string> { "b/cpu" }, 2));
        Assert.Equal(2, SpeedDrift.Find(stages, probed, probed, effective, new HashSet<string> { "a/cpu", "b/cpu" }, 2).Count);
    }

    [Fact]
    public void SpeedDrift_IgnoresSpeedsThatAreOnlyTheProbesCalibrated()
    {
        IReadOnlyList<StoredStage> stages = [Stage(0, "a")];
        var probed = new Dictionary<string, double> { ["a/cpu"] = 40 };

        var drift = SpeedDrift.Find(stages, new Dictionary<string, double>(), probed, new Dictionary<string, double> { ["a/cpu"] = 10 }, new HashSet<string>(), 1.5);

        Assert.Empty(drift);
    }

    [Fact]
    public void ImproveTimer_ASpeedChange_BringsTheCheckToNow_ButNotWithinTheIntervalOfTheLastChange_AndIsNamedOncePerNode()
    {
        var timer = new ImproveTimer(At(0), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(5));
        timer.Checked(At(70));

        timer.SpeedChanged(At(80), "b", "stage 1 on node b is 2.0x slower than planned");
        timer.SpeedChanged(At(81), "b", "stage 1 on node b is 3.0x slower than planned");

        Assert.True(timer.IsDue(At(81)));
        Assert.True(timer.BySpeed);
        Assert.Equal("stage 1 on node b is 3.0x slower than planned", timer.Trigger);
        timer.Checked(At(81));
        Assert.False(timer.BySpeed);

        timer.PlanChanged(At(90));
        timer.SpeedChanged(At(95), "c", "stage 2 on node c is 2.0x slower than planned");
        Assert.False(timer.IsDue(At(149)));
        Assert.True(timer.IsDue(At(150)));
    }
}
