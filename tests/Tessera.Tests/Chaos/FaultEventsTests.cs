using System.Diagnostics;
using Tessera.Cli.Commands.Chaos;
using Tessera.Pool.Client;

namespace Tessera.Tests.Chaos;

public sealed class FaultEventsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static EventView Event(double seconds, string kind, string? to = null) => new(0, T0.AddSeconds(seconds), kind, "node_1", null, to, kind);

    private static FaultRecord Fault(ChaosFault kind, double from, double settled) =>
        new(kind, "chaos-1", false, 0, 0, T0.AddSeconds(from), T0.AddSeconds(settled), TimeSpan.FromSeconds(settled - from), "");

    [Fact]
    public void Events_InAFaultsWindow_AreItsReactions_AndTheRestAreFalseAlarms()
    {
        var events = new[]
        {
            Event(1, "node-state", "suspect"), // not a reaction: suspicion alone moves nothing
            Event(2, "node-state", "down"), // before any fault: a false alarm
            Event(11, "stage-stalled"),
            Event(11.5, "node-state", "down"),
            Event(12, "deployment-recovered"),
            Event(19, "sessions-resumed"), // within the margin after the heal at 15 s
            Event(31, "plan-improved"),
            Event(40, "deployment-recovered"), // after the run: not counted
        };
        var faults = new[] { Fault(ChaosFault.Stop, 10, 15), Fault(ChaosFault.Cut, 30, 32) };

        var (perFault, unprovoked) = FaultEvents.Attribute(events, faults, T0, T0.AddSeconds(35));

        Assert.Equal(new PoolReactions(1, 1, 1, 1), perFault[0]);
        Assert.Equal(new PoolReactions(0, 1, 0, 0), perFault[1]);
        Assert.Equal(new PoolReactions(1, 0, 0, 0), unprovoked);
    }

    [Fact]
    public void Report_GroupsFaultsByKind_WithEachStreamsLongestGapThatOverlapsTheFault()
    {
        var t = Stopwatch.GetTimestamp();
        var s = Stopwatch.Frequency;
        Attempt Done(long started, params long[] arrivals) =>
            new(AttemptEnd.Done, 200, "abc", null, null, started, arrivals[^1], arrivals, arrivals.Select((_, i) => i + 1).ToList(), arrivals.Length);
        var prompt = new ChaosPrompt("Once", 0, null);
        var requests = new[]
        {
            new RequestRecord(0, prompt, "abc", [Done(t, t + s, t + 4 * s, t + 5 * s)]), // a 3 s gap, across the stop (2-6 s)
            new RequestRecord(1, prompt, "abc", [Done(t + 10 * s, t + 11 * s, t + 12 * s)]), // across the slow spell (10-12 s)
            new RequestRecord(1, prompt, "abc", [Done(t + 20 * s, t + 20 * s + s / 10)]), // no fault
            new RequestRecord(2, prompt, "abc", [Done(t + 10 * s, t + 10 * s + s / 2, t + 11 * s + s / 2, t + 12 * s + s / 2, t + 16 * s + s / 2)]), // 1 s gaps in the slow spell, 4 s after it
            new RequestRecord(0, prompt, "abc", [Done(t + 29 * s, t + 29 * s + s / 2, t + 30 * s + s / 5, t + 32 * s)]), // a token in flight after the kill at 30 s, then 1.8 s
        };
        FaultRecord Window(ChaosFault kind, long from, long to) => new(kind, "chaos-2", false, from, to, T0, T0, TimeSpan.FromSeconds(1), "");
        var kill = new FaultRecord(ChaosFault.Kill, "chaos-1", false, t + 30 * s, t + 30 * s, T0, T0, TimeSpan.FromSeconds(3), "");
        var faults = new[] { Window(ChaosFault.Stop, t + 2 * s, t + 6 * s), Window(ChaosFault.Slow, t + 10 * s, t + 12 * s), kill };

        var report = ChaosReport.From(requests, faults, TimeSpan.FromSeconds(30), t, [new PoolReactions(1, 1, 1, 1), PoolReactions.None, PoolReactions.None]);

        Assert.Equal(["kill", "stop", "slow"], report.FaultKinds.Select(k => k.Kind));
        Assert.Equal(1.8, report.Faults[2].PauseSeconds!.Value, 3); // the pause after the kill, though it began after the kill's instant
        Assert.Equal(3.0, report.FaultKinds[1].PauseSeconds.Max, 3);
        Assert.Equal(1.0, report.FaultKinds[2].PauseSeconds.Max, 3);
        Assert.Equal(new PoolReactions(1, 1, 1, 1), report.FaultKinds[1].Reactions);
        Assert.Equal((1, 3.0), (report.Faults[0].StreamsHit, report.Faults[0].PauseSeconds!.Value));
        Assert.Equal((2, 1.0), (report.Faults[1].StreamsHit, report.Faults[1].PauseSeconds!.Value));
        Assert.Equal(2.0, report.Faults[0].StartedSeconds, 3);
        Assert.Equal(1, report.UndisturbedLongestGapSeconds.Count);
        Assert.Equal(0, report.FaultsNotHealed);
    }
}
