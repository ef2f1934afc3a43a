namespace Tessera.Planner.Simulation;

/// <summary>A machine leaving or coming back at a time of the simulated day.</summary>
/// <param name="Seconds">Seconds from the start of the simulation.</param>
/// <param name="Node">The machine's index.</param>
/// <param name="Up">True when it comes back, false when it leaves.</param>
public readonly record struct ChurnEvent(double Seconds, int Node, bool Up);

/// <summary>
/// When each machine of a pool leaves and returns during the simulation, drawn once per pool and replayed for every
/// system, so the four are judged on the same failures. Every machine is up at the start.
/// </summary>
public static class ChurnSchedule
{
    /// <param name="pool">The pool.</param>
    /// <param name="hours">Length of the simulation.</param>
    /// <param name="seed">Seed; each machine draws from its own stream, so a pool's first machines churn alike at any pool size.</param>
    /// <param name="rateScale">Multiplies every departure rate (0: no failures; 2: twice as many).</param>
    public static IReadOnlyList<ChurnEvent> Draw(SimulatedPool pool, double hours, int seed, double rateScale = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(hours);
        ArgumentOutOfRangeException.ThrowIfNegative(rateScale);
        var end = hours * 3600;
        var events = new List<ChurnEvent>();
        if (rateScale == 0)
            return events;
        foreach (var node in pool.Nodes)
        {
            var churn = ChurnProfile.For(node.Class);
            var meanUp = 86400 / (churn.DeparturesPerDay * rateScale);
            var random = SplitMix64.ForStream(seed, node.Index);
            var t = random.NextExponential(meanUp);
            while (t < end)
            {
                events.Add(new ChurnEvent(t, node.Index, Up: false));
                t += random.NextExponential(churn.MeanHoursAway * 3600);
                if (t >= end)
                    break;
                events.Add(new ChurnEvent(t, node.Index, Up: true));
                t += random.NextExponential(meanUp);
            }
        }
        events.Sort((a, b) => a.Seconds != b.Seconds ? a.Seconds.CompareTo(b.Seconds) : a.Node.CompareTo(b.Node));
        return events;
    }
}
