using Tessera.Serving;

namespace Tessera.Serving.Tests;

public sealed class LinkStatisticsTests
{
    [Fact]
    public void HundredSamples_GiveNearestRankPercentiles_AndJitterAsThe99thPercentileDeviationFromTheMedian()
    {
        var samples = Enumerable.Range(1, 100).Select(i => (double)i).Reverse().ToArray();

        var m = LinkStatistics.Summarise(samples, sent: 100, bandwidthBytesPerSecond: 5e6);

        Assert.Equal(50, m.RttP50Ms);
        Assert.Equal(99, m.RttP99Ms);
        // deviations from 50: 0, 1, 1, 2, 2, ..., 49, 49, 50; the 99th of 100 in order is 49
        Assert.Equal(49, m.JitterMs);
        Assert.Equal((0.0, 100, 5e6), (m.Loss, m.Samples, m.BandwidthBytesPerSecond));
        Assert.True(m.Reachable);
    }

    [Fact]
    public void ASteadyLinkWithOneSpike_HasTheSpikeInP99AndJitter_NotInTheMedian()
    {
        double[] samples = [.. Enumerable.Repeat(2.0, 19), 42.0];

        var m = LinkStatistics.Summarise(samples, sent: 20, 0);

        Assert.Equal((2.0, 42.0, 40.0), (m.RttP50Ms, m.RttP99Ms, m.JitterMs));
    }

    [Fact]
    public void Unanswered_Echoes_AreLoss_AndNoAnswerAtAllIsUnreachable()
    {
        Assert.Equal(0.25, LinkStatistics.Summarise([1.0, 1.0, 1.0], sent: 4, 0).Loss);

        var none = LinkStatistics.Summarise([], sent: 20, 0);

        Assert.False(none.Reachable);
        Assert.Equal(1, none.Loss);
        Assert.Contains("none of 20 echoes", none.Error);
        Assert.Throws<ArgumentOutOfRangeException>(() => LinkStatistics.Summarise([1.0, 2.0], sent: 1, 0));
    }
}
