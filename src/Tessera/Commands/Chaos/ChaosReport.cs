using System.Diagnostics;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>Seconds at the 50th and 99th percentiles (nearest rank) and the largest, over <see cref="Count"/> samples.</summary>
internal sealed record Percentiles(int Count, double P50, double P99, double Max)
{
    public static Percentiles Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
            return new Percentiles(0, 0, 0, 0);
        double At(double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new Percentiles(sorted.Length, At(0.50), At(0.99), sorted[^1]);
    }
}

/// <summary>
/// One injected fault as the report shows it: when it began (seconds into the run), how long it lasted, how long the pool
/// took to heal from its start, the longest pause of the streams it hit (null: it hit none), and what the pool did.
/// </summary>
internal sealed record FaultReport(string Kind, string Target, string Detail, double StartedSeconds, double LastedSeconds, double? HealedAfterSeconds,
    int StreamsHit, double? PauseSeconds, PoolReactions Reactions);

/// <summary>The faults of one kind: how many were injected and not healed, the pauses of the streams they hit, what the pool did.</summary>
internal sealed record FaultKindReport(string Kind, int Injected, int NotHealed, Percentiles PauseSeconds, PoolReactions Reactions);

/// <summary>
/// The outcome of a chaos run, computed from what the clients and the injector recorded (no I/O): requests started,
/// completed, retried, failed, differing from the failure-free text; the pauses of streams that a fault hit, per
/// kind; what the pool did about each fault and what it did with no fault (false alarms); throughput.
/// </summary>
internal sealed record ChaosReport(
    double DurationSeconds,
    int Started,
    int Completed,
    int CompletedFirstTry,
    int Retried,
    int Failed,
    int Differing,
    int RetriesAfterBrokenConnection,
    int RetriesAfter503,
    int RetriesAfter429,
    int RetriesAfterErrorEvent,
    int AgentKills,
    int CoordinatorKills,
    int KillsNotHealed,
    Percentiles PauseSeconds,
    Percentiles UndisturbedLongestGapSeconds,
    Percentiles ResumeAfterCoordinatorKillSeconds,
    Percentiles HealSeconds,
    long CompletionTokens,
    double TokensPerSecond,
    IReadOnlyList<string> FailureSamples)
{
    /// <summary>A burst beyond capacity after the chaos, when one was fired.</summary>
    public BurstResult? Burst { get; init; }

    /// <summary>How far the coordinator's memory may grow during the burst.</summary>
    public long BurstMemoryLimitBytes { get; init; }

    public bool BurstMet => Burst is null || (Burst.Bounded && Burst.RssPeakBytes - Burst.RssBeforeBytes <= BurstMemoryLimitBytes);

    /// <summary>The faults asked for (<c>--faults</c>), by name.</summary>
    public IReadOnlyList<string> FaultsRequested { get; init; } = [];

    /// <summary>Faults asked for but not injected, each with the reason (a cut without <c>--namespaces</c>, say).</summary>
    public IReadOnlyList<string> FaultsSkipped { get; init; } = [];

    /// <summary>Every injected fault, in order.</summary>
    public IReadOnlyList<FaultReport> Faults { get; init; } = [];

    /// <summary>The faults per kind, in the order of <see cref="ChaosFaults.All"/>.</summary>
    public IReadOnlyList<FaultKindReport> FaultKinds { get; init; } = [];

    /// <summary>Faults the pool did not heal from within the bound, of every kind.</summary>
    public int FaultsNotHealed { get; init; }

    /// <summary>Busy threads that ran beside the agents (<c>--cpu-hog</c>).</summary>
    public int CpuHogThreads { get; init; }

    /// <summary>What the pool did during the run outside every fault's window: nodes marked down, stages moved, replays, alarms with nothing injected.</summary>
    public PoolReactions Unprovoked { get; init; } = PoolReactions.None;

    /// <summary>The targets: no failed request, no differing text, every fault healed, the burst bounded.</summary>
    public bool TargetsMet => Failed == 0 && Differing == 0 && KillsNotHealed == 0 && FaultsNotHealed == 0 && BurstMet;

    /// <summary>
    /// The report of a run that began at <paramref name="runStarted"/> (a Stopwatch timestamp); <paramref name="reactions"/>
    /// holds what the pool did in each fault's window (same order as <paramref name="faults"/>; none when unknown).
    /// </summary>
    public static ChaosReport From(IReadOnlyList<RequestRecord> requests, IReadOnlyList<FaultRecord> faults, TimeSpan duration, long runStarted = 0,
        IReadOnlyList<PoolReactions>? reactions = null)
    {
        var kills = faults.Where(f => f.Kind == ChaosFault.Kill).ToList();
        var agentKills = kills.Where(k => !k.Coordinator).ToList();
        var coordinatorKills = kills.Where(k => k.Coordinator).Select(k => k.At).ToList();
        var attempts = requests.SelectMany(r => r.Attempts).ToList();
        var done = attempts.Where(a => a.End == AttemptEnd.Done).ToList();
        bool Overlaps(Attempt a, FaultRecord f) => a.Started <= f.EndedAt && a.Ended >= f.At;
        // A stream's pause for a fault is its longest gap that overlaps the fault until the pool had healed, not its
        // longest gap: a stream that runs across a slow spell and then a kill must not charge the kill's pause to the
        // slow spell. Until healed, not until the fault ended: after a kill, tokens already on their way still arrive
        // and the pause begins a moment later.
        List<double> PausesOf(FaultRecord f) => done.Select(a => GapDuring(a, f.At, f.SettledAt)).OfType<double>().ToList();
        var faultReports = faults.Select((f, i) =>
        {
            var hit = PausesOf(f);
            return new FaultReport(f.Kind.Name(), f.Target, f.Detail, runStarted == 0 ? 0 : Stopwatch.GetElapsedTime(runStarted, f.At).TotalSeconds,
                f.Lasted.TotalSeconds, f.HealedAfter?.TotalSeconds, hit.Count, hit.Count > 0 ? hit.Max() : null,
                reactions is not null && i < reactions.Count ? reactions[i] : PoolReactions.None);
        }).ToList();
        var kinds = ChaosFaults.All.Select(kind => (kind, of: faults.Select((f, i) => (f, i)).Where(x => x.f.Kind == kind).ToList()))
            .Where(k => k.of.Count > 0)
            .Select(k => new FaultKindReport(k.kind.Name(), k.of.Count, k.of.Count(x => x.f.HealedAfter is null),
                Percentiles.Of(k.of.Where(x => !x.f.Coordinator).SelectMany(x => PausesOf(x.f))),
                k.of.Aggregate(PoolReactions.None, (sum, x) => sum + faultReports[x.i].Reactions)))
            .ToList();
        var retriedAttempts = requests.SelectMany(r => r.Attempts.Take(r.Attempts.Count - 1)).ToList();
        var tokens = requests.Where(r => r.Completed).Sum(r => (long)r.Attempts[^1].Tokens);
        return new ChaosReport(
            duration.TotalSeconds,
            requests.Count,
            requests.Count(r => r.Completed),
            requests.Count(r => r.Completed && !r.Retried),
            requests.Count(r => r.Retried),
            requests.Count(r => !r.Completed),
            requests.Count(r => r.Differs),
            retriedAttempts.Count(a => a.End == AttemptEnd.Broken),
            retriedAttempts.Count(a => a.Status == 503),
            retriedAttempts.Count(a => a.Status == 429),
            retriedAttempts.Count(a => a.End == AttemptEnd.ErrorEvent),
            agentKills.Count,
            coordinatorKills.Count,
            kills.Count(k => k.HealedAfter is null),
            Percentiles.Of(agentKills.SelectMany(PausesOf)),
            Percentiles.Of(done.Where(a => !faults.Any(f => Overlaps(a, f))).Select(LongestGap)),
            Percentiles.Of(requests.Where(r => r.Retried).Select(ResumeSeconds).OfType<double>()),
            Percentiles.Of(kills.Where(k => k.HealedAfter is not null).Select(k => k.HealedAfter!.Value.TotalSeconds)),
            tokens,
            duration.TotalSeconds > 0 ? tokens / duration.TotalSeconds : 0,
            requests.Where(r => !r.Completed || r.Differs).Take(5)
                .Select(r => $"client {r.Client}, '{r.Prompt.Prompt}' ({r.Prompt.Sampling}): {r.Attempts.Count} attempts, last: {r.Attempts[^1].End} {r.Attempts[^1].Status} {r.Attempts[^1].Error}"
                    + (r.Differs ? $"; text differs from the reference ('{Clip(r.Attempts[^1].Text)}' vs '{Clip(r.Reference)}')" : ""))
                .ToList())
        {
            Faults = faultReports,
            FaultKinds = kinds,
            FaultsNotHealed = faults.Count(f => f.HealedAfter is null),
        };
    }

    /// <summary>The longest wait between two pieces of text of one stream, in seconds.</summary>
    internal static double LongestGap(Attempt a)
    {
        var gap = 0.0;
        for (var i = 1; i < a.Arrivals.Count; i++)
            gap = Math.Max(gap, Stopwatch.GetElapsedTime(a.Arrivals[i - 1], a.Arrivals[i]).TotalSeconds);
        return gap;
    }

    /// <summary>
    /// The longest wait between two pieces of text of one stream among those that overlap <paramref name="from"/> to
    /// <paramref name="to"/> (Stopwatch timestamps; equal for an instant), in seconds; null when none does.
    /// </summary>
    internal static double? GapDuring(Attempt a, long from, long to)
    {
        double? gap = null;
        for (var i = 1; i < a.Arrivals.Count; i++)
        {
            if (a.Arrivals[i - 1] <= to && a.Arrivals[i] >= from)
                gap = Math.Max(gap ?? 0, Stopwatch.GetElapsedTime(a.Arrivals[i - 1], a.Arrivals[i]).TotalSeconds);
        }
        return gap;
    }

    /// <summary>
    /// For a request that needed retries: from the last text the client had shown (its cut attempts' furthest piece)
    /// to the first piece of the final attempt that goes beyond it: the pause a resuming client's user sees.
    /// </summary>
    internal static double? ResumeSeconds(RequestRecord r)
    {
        var cut = r.Attempts.Take(r.Attempts.Count - 1).ToList();
        var shown = cut.Max(a => a.Text.Length);
        var shownAt = cut.Where(a => a.Arrivals.Count > 0).Select(a => a.Arrivals[^1]).DefaultIfEmpty(cut[0].Started).Max();
        var final = r.Attempts[^1];
        for (var i = 0; i < final.Arrivals.Count; i++)
        {
            if (final.Lengths[i] > shown)
                return Stopwatch.GetElapsedTime(shownAt, final.Arrivals[i]).TotalSeconds;
        }
        return null;
    }

    private static string Clip(string text) => text.Length > 40 ? text[..40] + "..." : text;
}
