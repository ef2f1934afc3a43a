namespace Tessera.Cli.Commands.Chaos;

/// <summary>
/// One planned fault: in which slot (1-based, one every interval), what kind, whether a kill is the coordinator's, how
/// long it lasts (zero for a kill: a crash is an instant) and, for <see cref="ChaosFault.Slow"/>, the share of every
/// <see cref="FaultSchedule.SlowPeriod"/> the agent spends stopped.
/// </summary>
internal sealed record PlannedFault(int Slot, ChaosFault Kind, bool Coordinator, TimeSpan Duration, double StoppedFraction);

/// <summary>
/// Which fault each slot of a chaos run gets (pure; the same seed gives the same plan). The requested kinds take the
/// slots in turn, in an order shuffled by the seed, so every kind is injected once as soon as there are as many slots
/// as kinds; the middle kill is the coordinator's when asked. Every duration is drawn from a fixed, bounded range.
/// </summary>
internal static class FaultSchedule
{
    /// <summary>How long a stopped agent stays stopped: long enough that the step deadline fires, short enough to heal in a slot.</summary>
    public static readonly (TimeSpan Min, TimeSpan Max) StopFor = (TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(8));

    /// <summary>How long a slow agent stays slow.</summary>
    public static readonly (TimeSpan Min, TimeSpan Max) SlowFor = (TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8));

    /// <summary>How long a link stays cut.</summary>
    public static readonly (TimeSpan Min, TimeSpan Max) CutFor = (TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(8));

    /// <summary>The period of a slow agent's duty cycle: stopped for a share of it, running for the rest.</summary>
    public static readonly TimeSpan SlowPeriod = TimeSpan.FromMilliseconds(100);

    /// <summary>The share of each period a slow agent is stopped: from half (twice as slow) to 80 % (five times).</summary>
    public static readonly (double Min, double Max) SlowStopped = (0.5, 0.8);

    public static IReadOnlyList<PlannedFault> Plan(IReadOnlyList<ChaosFault> kinds, int slots, bool killCoordinator, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slots);
        if (kinds.Count == 0 || slots == 0)
            return [];
        var random = new Random(seed);
        var order = kinds.Distinct().ToArray();
        random.Shuffle(order);
        var plan = new List<PlannedFault>(slots);
        for (var slot = 1; slot <= slots; slot++)
        {
            var kind = order[(slot - 1) % order.Length];
            var duration = kind switch
            {
                ChaosFault.Stop => Between(random, StopFor),
                ChaosFault.Slow => Between(random, SlowFor),
                ChaosFault.Cut => Between(random, CutFor),
                _ => TimeSpan.Zero,
            };
            var stopped = kind == ChaosFault.Slow ? Math.Round(SlowStopped.Min + random.NextDouble() * (SlowStopped.Max - SlowStopped.Min), 2) : 0;
            plan.Add(new PlannedFault(slot, kind, false, duration, stopped));
        }
        // The middle kill, as before there were other faults: late enough that agent kills came first, early enough
        // that more follow on the restarted coordinator.
        var kills = plan.Where(p => p.Kind == ChaosFault.Kill).ToList();
        if (killCoordinator && kills.Count > 0)
        {
            var middle = kills[(kills.Count + 1) / 2 - 1];
            plan[middle.Slot - 1] = middle with { Coordinator = true };
        }
        return plan;
    }

    private static TimeSpan Between(Random random, (TimeSpan Min, TimeSpan Max) range) =>
        TimeSpan.FromMilliseconds(Math.Round(range.Min.TotalMilliseconds + random.NextDouble() * (range.Max - range.Min).TotalMilliseconds, 0));
}
