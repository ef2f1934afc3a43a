namespace Tessera.Deploy;

/// <summary>
/// The time a decoded token spends on each link of a pipeline, as its stages show it, for the planner. A stage waits,
/// from sending a decoding step's work to the next stage until the answer comes back, for that stage's pass, that
/// stage's own wait on the rest of the pipeline, and the link between them both ways (with the wake-ups, framing and
/// relaying of the transport): so a link's round trip is <c>wait(k) - pass(k+1) - wait(k+1)</c>, all means over the
/// same interval. Less the transfer time of the bytes at the link's measured bandwidth, that is its latency; the planner
/// is given it in place of the link probe's RTT, which measures a lone echo (on a busy machine about twice what a
/// token's hop costs), so a prediction for the plan adds up to the step time the stages show.
/// </summary>
/// <remarks>
/// The same guards as <see cref="ObservedSpeeds"/>: a sample spans at least <see cref="StageSpeedOptions.MinPassesPerSample"/>
/// decoding steps at every stage of the pipeline (fewer are added to the next reading); a link's latency is the median
/// of its last <see cref="StageSpeedOptions.Window"/> samples, used once <see cref="StageSpeedOptions.MinSamples"/> were
/// taken, for <see cref="StageSpeedOptions.SampleLifetime"/>. Links are symmetric, as the planner's are. Pure: the caller
/// passes the time in. Not thread-safe.
/// </remarks>
internal sealed class ObservedHops
{
    private readonly StageSpeedOptions _options;
    private readonly Dictionary<string, StageCounters> _baselines = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), List<Sample>> _links = [];

    public ObservedHops(StageSpeedOptions options)
    {
        options.Validate();
        _options = options;
    }

    /// <summary>One stage of a pipeline as read: its running stage's key (a new stage has a new key), its node, its counters.</summary>
    public readonly record struct StageRead(string Key, string NodeId, StageCounters Counters);

    /// <summary>
    /// One replica's stages, in pipeline order, read at <paramref name="now"/>. <paramref name="transferSeconds"/> gives
    /// the seconds a token's bytes (activations one way, the sampled token back) take at the measured bandwidth of the
    /// link between two nodes (0 when not measured).
    /// </summary>
    /// <returns>The links sampled (node, node, latency in ms), none while the steps since the last sample are too few.</returns>
    public IReadOnlyList<(string NodeA, string NodeB, double LatencyMs)> Observe(IReadOnlyList<StageRead> stages, TimeSpan now,
        Func<string, string, double> transferSeconds)
    {
        if (stages.Count < 2)
            return [];
        // Every stage must be counted from a baseline over the same interval; a new stage (or counters that went back)
        // starts the whole pipeline afresh.
        var fresh = false;
        foreach (var s in stages)
        {
            if (!_baselines.TryGetValue(s.Key, out var b) || s.Counters.DecodePasses < b.DecodePasses || s.Counters.DecodeWaits < b.DecodeWaits)
                fresh = true;
        }
        if (fresh)
        {
            Rebase(stages);
            return [];
        }
        var passes = new double[stages.Count];
        var waits = new double[stages.Count];
        for (var i = 0; i < stages.Count; i++)
        {
            var (c, b) = (stages[i].Counters, _baselines[stages[i].Key]);
            var (n, w) = (c.DecodePasses - b.DecodePasses, c.DecodeWaits - b.DecodeWaits);
            var last = i == stages.Count - 1;
            if (n < _options.MinPassesPerSample || (!last && w < _options.MinPassesPerSample))
                return [];
            passes[i] = (c.DecodeSeconds - b.DecodeSeconds) / n;
            waits[i] = last ? 0 : (c.DecodeWaitSeconds - b.DecodeWaitSeconds) / w;
        }
        Rebase(stages);
        var sampled = new List<(string, string, double)>(stages.Count - 1);
        for (var k = 0; k < stages.Count - 1; k++)
        {
            var (a, b) = (stages[k].NodeId, stages[k + 1].NodeId);
            var seconds = waits[k] - passes[k + 1] - waits[k + 1] - transferSeconds(a, b);
            if (a == b || !double.IsFinite(seconds))
                continue;
            var ms = Math.Max(0, seconds) * 1000;
            var key = Key(a, b);
            if (!_links.TryGetValue(key, out var samples))
                _links[key] = samples = [];
            samples.Add(new Sample(now, ms));
            if (samples.Count > _options.Window)
                samples.RemoveAt(0);
            sampled.Add((a, b, ms));
        }
        return sampled;
    }

    /// <summary>Forgets the counters of stages not in <paramref name="running"/>; the links' samples stay until they expire.</summary>
    public void Retain(IReadOnlySet<string> running)
    {
        foreach (var key in _baselines.Keys.Where(k => !running.Contains(k)).ToList())
            _baselines.Remove(key);
    }

    /// <summary>Every link's observed latency (ms, the median of its live samples), where it has enough samples.</summary>
    public Dictionary<(string, string), double> Latencies(TimeSpan now)
    {
        var latencies = new Dictionary<(string, string), double>();
        foreach (var (key, samples) in _links)
        {
            samples.RemoveAll(s => now - s.At > _options.SampleLifetime);
            if (samples.Count >= _options.MinSamples)
                latencies[key] = ObservedSpeeds.Median(samples.Select(s => s.Ms));
        }
        return latencies;
    }

    /// <summary>The key of the link between <paramref name="a"/> and <paramref name="b"/> either way.</summary>
    public static (string, string) Key(string a, string b) => string.CompareOrdinal(a, b) <= 0 ? (a, b) : (b, a);

    private void Rebase(IReadOnlyList<StageRead> stages)
    {
        foreach (var s in stages)
            _baselines[s.Key] = s.Counters;
    }

    private readonly record struct Sample(TimeSpan At, double Ms);
}
