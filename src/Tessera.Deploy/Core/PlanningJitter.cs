namespace Tessera.Deploy;

/// <summary>
/// The jitter the planner weighs each link by, from the jitter measured on it (the p99 of |RTT − median|; see
/// docs/pool.md). Two corrections make the measured figure usable for planning:
/// <list type="bullet">
/// <item>One measurement is 20 echoes, so its p99 is its largest sample: a single late echo (a busy machine's scheduler,
/// a garbage collection) makes a quiet link look jittery. A link is taken as jittery only when it is in every one of its
/// last <see cref="Window"/> measurements: the smallest of them counts, and a link with fewer than
/// <see cref="MinMeasurements"/> counts none.</item>
/// <item>Noise that every link of the pool shares (all machines busy, all on the same Wi-Fi) does not tell links apart
/// and made every plan look hop-bound when it was counted in full (loopback hops of 0.3 ms measured 8-26 ms of jitter
/// on a loaded machine). Only the excess over the median of all links' figures is given to the planner, so a link
/// that is jittery compared with the rest of the pool is avoided, and uniform noise costs nothing.</item>
/// </list>
/// Pure.
/// </summary>
internal static class PlanningJitter
{
    /// <summary>Measurements of a link remembered.</summary>
    public const int Window = 3;

    /// <summary>Measurements of a link needed before its jitter counts.</summary>
    public const int MinMeasurements = 2;

    /// <param name="recent">Each link's jitter in its latest measurements (ms), any order; at most <see cref="Window"/> are read.</param>
    /// <returns>The jitter to plan with (ms) of every link that has one above zero.</returns>
    public static Dictionary<TKey, double> Excess<TKey>(IReadOnlyDictionary<TKey, IReadOnlyList<double>> recent)
        where TKey : notnull
    {
        var steady = Steady(recent);
        var result = new Dictionary<TKey, double>();
        if (steady.Count == 0)
            return result;
        var floor = ObservedSpeeds.Median(steady.Values);
        foreach (var (link, jitter) in steady)
        {
            if (jitter > floor)
                result[link] = jitter - floor;
        }
        return result;
    }

    /// <summary>
    /// Each link's own steady jitter (ms): the smallest of its last <see cref="Window"/> measurements, for links measured
    /// at least <see cref="MinMeasurements"/> times; before the pool's common floor is taken off (what its packets see).
    /// </summary>
    public static Dictionary<TKey, double> Steady<TKey>(IReadOnlyDictionary<TKey, IReadOnlyList<double>> recent)
        where TKey : notnull
    {
        var steady = new Dictionary<TKey, double>();
        foreach (var (link, values) in recent)
        {
            if (values.Count < MinMeasurements)
                continue;
            var min = double.PositiveInfinity;
            for (var i = Math.Max(0, values.Count - Window); i < values.Count; i++)
                min = Math.Min(min, Math.Max(0, values[i]));
            steady[link] = min;
        }
        return steady;
    }
}
