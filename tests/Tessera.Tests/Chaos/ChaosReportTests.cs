using System.Diagnostics;
using Tessera.Cli.Commands.Chaos;

namespace Tessera.Tests.Chaos;

public sealed class ChaosReportTests
{
    private static readonly ChaosPrompt Greedy = new("Once", 0, null);

    private static Attempt Done(string text, long started, params long[] arrivals) =>
        new(AttemptEnd.Done, 200, text, null, null, started, arrivals.Length > 0 ? arrivals[^1] : started, arrivals, arrivals.Select((_, i) => i + 1).ToList(), arrivals.Length);

    private static Attempt Broken(string text, long started, params long[] arrivals) =>
        new(AttemptEnd.Broken, 0, text, "connection refused", null, started, arrivals.Length > 0 ? arrivals[^1] : started, arrivals, arrivals.Select((_, i) => i + 1).ToList(), 0);

    [Fact]
    public void Percentiles_AreNearestRank_AndEmptyIsZero()
    {
        var p = Percentiles.Of(Enumerable.Range(1, 100).Select(i => (double)i));
        Assert.Equal((100, 50.0, 99.0, 100.0), (p.Count, p.P50, p.P99, p.Max));
        Assert.Equal(0, Percentiles.Of([]).Count);
    }

    [Fact]
    public void ARequestResentAfterABrokenStream_CountsAsRetried_NotFailed_AndAWrongPrefixCountsAsDiffering()
    {
        var t = Stopwatch.GetTimestamp();
        var s = Stopwatch.Frequency;
        var retried = new RequestRecord(0, Greedy, "abc", [Broken("a", t, t + s), Done("abc", t + 3 * s, t + 4 * s, t + 5 * s, t + 6 * s)]);
        var wrongPrefix = new RequestRecord(1, Greedy, "abc", [Broken("x", t, t + s), Done("abc", t + 2 * s, t + 3 * s)]);
        var failed = new RequestRecord(1, Greedy, "abc", [Broken("", t)]);

        var report = ChaosReport.From([retried, wrongPrefix, failed], [], TimeSpan.FromSeconds(10));

        Assert.Equal((3, 2, 0, 2, 1, 1), (report.Started, report.Completed, report.CompletedFirstTry, report.Retried, report.Failed, report.Differing));
        Assert.False(report.TargetsMet);
        // the retried request showed "a" at t+1 s; its final stream went beyond it at t+5 s (the second piece)
        Assert.Equal(4.0, ChaosReport.ResumeSeconds(retried)!.Value, 3);
    }
}
