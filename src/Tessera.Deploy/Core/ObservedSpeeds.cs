using Tessera.Engine.Backends;

namespace Tessera.Deploy;

/// <summary>
/// Each node's speed as its stages show it, for the planner: a stage's decoding passes read the bytes the planner
/// counts for its layers (<see cref="Tessera.Planner.PoolPlanner.StageReadBytes"/>), so those bytes over the observed
/// time per pass is the speed (GB/s) at which the planner's prediction for that stage matches what was seen.
/// Unlike the agent's memory probe (a short burst at start-up, which on identical cores gave 17.7, 23.3 and 44.4 GB/s),
/// it is what decoding on that node costs now, so it also sees a node made slow later (a CPU quota, a busy machine).
/// </summary>
/// <remarks>
/// Noise is kept from moving stages three ways: a sample spans at least <see cref="StageSpeedOptions.MinPassesPerSample"/>
/// passes (or, for a slow stage, <see cref="StageSpeedOptions.MinSampleSeconds"/> of them); a node's speed is the median of its last <see cref="StageSpeedOptions.Window"/> samples (unless
/// the last two agree that it changed by a factor, see <see cref="Observed"/>) and is used only once
/// <see cref="StageSpeedOptions.MinSamples"/> were taken; and the planner moves layers only for a gain beyond its
/// improvement margins. Nodes without samples keep their probe's figure, scaled by the (upper) median ratio of observed
/// to probed speed over the nodes that have both: without that, a node never observed (its probe measures a burst, not
/// decoding with overheads) would look faster than every observed one and attract the whole model, then be observed
/// slow and lose it again. Pure: the caller passes the time in (any monotonic origin). Not thread-safe.
/// </remarks>
internal sealed class ObservedSpeeds
{
    private readonly StageSpeedOptions _options;
    private readonly Dictionary<string, Baseline> _stages = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Sample>> _nodes = new(StringComparer.Ordinal);
    private readonly List<Sample> _head = [];

    public ObservedSpeeds(StageSpeedOptions options)
    {
        options.Validate();
        _options = options;
    }

    /// <summary>
    /// A stage's counters read at <paramref name="now"/>: its decoding passes and their seconds since it started.
    /// <paramref name="stageKey"/> names the running stage (a restarted or moved stage has a new key, or counters that go
    /// back, and starts afresh); <paramref name="readBytesPerPass"/> is what the planner counts for its layers and, for a
    /// last stage, its head (<paramref name="headBytesPerPass"/> of them). When a last stage says how long its head took
    /// (<paramref name="decodeHeadSeconds"/>), the sample is its layers' speed and the head's is kept apart as a ratio
    /// (<see cref="HeadSpeedFactor"/>): the head is one wide product that streams memory faster than a layer's small
    /// ones, so a node measured on a stage with the head would otherwise look faster than one measured without it.
    /// </summary>
    /// <returns>The sample taken (GB/s), or null when the passes since the last sample are too few yet.</returns>
    public double? Observe(string stageKey, string nodeId, TimeSpan now, long decodePasses, double decodeSeconds, double readBytesPerPass,
        double decodeHeadSeconds = 0, double headBytesPerPass = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(stageKey);
        ArgumentException.ThrowIfNullOrEmpty(nodeId);
        if (!_stages.TryGetValue(stageKey, out var last) || decodePasses < last.Passes || decodeSeconds < last.Seconds ||
            decodeHeadSeconds < last.HeadSeconds || last.NodeId != nodeId)
        {
            _stages[stageKey] = new Baseline(nodeId, decodePasses, decodeSeconds, decodeHeadSeconds);
            return null;
        }
        var passes = decodePasses - last.Passes;
        var seconds = decodeSeconds - last.Seconds;
        var enough = passes >= _options.MinPassesPerSample || (passes >= 2 && seconds >= _options.MinSampleSeconds.TotalSeconds);
        if (!enough || !(seconds > 0) || !(readBytesPerPass > 0) || !double.IsFinite(readBytesPerPass))
            return null;
        _stages[stageKey] = new Baseline(nodeId, decodePasses, decodeSeconds, decodeHeadSeconds);
        var headSeconds = decodeHeadSeconds - last.HeadSeconds;
        double gbps;
        if (headBytesPerPass > 0 && readBytesPerPass > headBytesPerPass && headSeconds > 0 && headSeconds < seconds)
        {
            gbps = (readBytesPerPass - headBytesPerPass) * passes / (seconds - headSeconds) / 1e9;
            var factor = headBytesPerPass * passes / headSeconds / 1e9 / gbps;
            if (double.IsFinite(factor) && factor > 0)
            {
                _head.Add(new Sample(now, factor));
                if (_head.Count > _options.Window)
                    _head.RemoveAt(0);
            }
        }
        else
        {
            gbps = readBytesPerPass * passes / seconds / 1e9;
        }
        if (!double.IsFinite(gbps))
            return null;
        if (!_nodes.TryGetValue(nodeId, out var samples))
            _nodes[nodeId] = samples = [];
        samples.Add(new Sample(now, gbps));
        if (samples.Count > _options.Window)
            samples.RemoveAt(0);
        return gbps;
    }

    /// <summary>
    /// How many times faster than a node's layers the head streams its bytes, as last stages showed it (the median of the
    /// last <see cref="StageSpeedOptions.Window"/> samples, whichever node they came from: the pool's engines are alike);
    /// null with fewer than <see cref="StageSpeedOptions.MinSamples"/>. The planner divides the head's bytes by it
    /// (<see cref="Tessera.Planner.PlannerOptions.HeadSpeedFactor"/>).
    /// </summary>
    public double? HeadSpeedFactor(TimeSpan now)
    {
        _head.RemoveAll(s => now - s.At > _options.SampleLifetime);
        return _head.Count < _options.MinSamples ? null : Median(_head.Select(s => s.GBps));
    }

    /// <summary>Forgets the counters of stages not in <paramref name="running"/> (stopped or moved); their nodes' samples stay until they expire.</summary>
    public void Retain(IReadOnlySet<string> running)
    {
        foreach (var key in _stages.Keys.Where(k => !running.Contains(k)).ToList())
            _stages.Remove(key);
    }

    /// <summary>
    /// The node's observed speed (GB/s): the median of its live samples, or, when its last two samples both lie a
    /// <see cref="StageSpeedOptions.DriftFactor"/> away from the median of the ones before, on the same side, the mean of
    /// those two (the node changed: a quota, a busy machine); null with fewer than <see cref="StageSpeedOptions.MinSamples"/>.
    /// Without the second rule a node whose stage moved off after one or two slow samples kept a window that said fast,
    /// and the next plan put layers back on it.
    /// </summary>
    public double? Observed(string nodeId, TimeSpan now)
    {
        if (!_nodes.TryGetValue(nodeId, out var samples))
            return null;
        samples.RemoveAll(s => now - s.At > _options.SampleLifetime);
        if (samples.Count < _options.MinSamples)
            return null;
        if (samples.Count < 3)
            return Median(samples.Select(s => s.GBps));
        var last = samples[^1].GBps;
        var before = samples[^2].GBps;
        var earlier = Median(samples.Take(samples.Count - 2).Select(s => s.GBps));
        var f = _options.DriftFactor;
        if ((last * f <= earlier && before * f <= earlier) || (last >= earlier * f && before >= earlier * f))
            return (last + before) / 2;
        return Median(samples.Select(s => s.GBps));
    }

    /// <summary>
    /// The speed to plan each device with, from <paramref name="probed"/> (device id → the probe's GB/s, 0 when
    /// unmeasured): the observed speed where there is one; otherwise the probe's, scaled by the (upper) median ratio of
    /// observed to probed over the devices of its kind (CPU or GPU) that have both, or over all devices when none of its
    /// kind has (unscaled when none has). By kind: a GPU's probe is a copy kernel and a CPU's a read loop, and the share
    /// of either that decoding reaches differs. Devices with neither are left out.
    /// </summary>
    public Dictionary<string, double> Effective(IReadOnlyDictionary<string, double> probed, TimeSpan now)
    {
        var observed = probed.Keys.Select(id => (Id: id, Speed: Observed(id, now))).Where(o => o.Speed is not null)
            .ToDictionary(o => o.Id, o => o.Speed!.Value, StringComparer.Ordinal);
        var ratios = observed.Where(o => probed[o.Key] > 0).Select(o => (Cpu: ComputeDevices.IsCpu(o.Key), Ratio: o.Value / probed[o.Key])).ToList();
        // The upper median: with two observed devices, one of them made slow, the other says what a healthy one does.
        static double Scale(IEnumerable<double> values, double otherwise)
        {
            var sorted = values.Order().ToList();
            return sorted.Count == 0 ? otherwise : sorted[sorted.Count / 2];
        }
        var overall = Scale(ratios.Select(r => r.Ratio), 1);
        var cpuScale = Scale(ratios.Where(r => r.Cpu).Select(r => r.Ratio), overall);
        var gpuScale = Scale(ratios.Where(r => !r.Cpu).Select(r => r.Ratio), overall);
        var effective = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (id, probe) in probed)
        {
            if (observed.TryGetValue(id, out var speed))
                effective[id] = speed;
            else if (probe > 0)
                effective[id] = probe * (ComputeDevices.IsCpu(id) ? cpuScale : gpuScale);
        }
        return effective;
    }

    /// <summary>The median of <paramref name="values"/> (the mean of the middle two for an even count).</summary>
    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        var middle = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    private readonly record struct Baseline(string NodeId, long Passes, double Seconds, double HeadSeconds);

    /// <summary>A speed (GB/s), or for the head a factor.</summary>
    private readonly record struct Sample(TimeSpan At, double GBps);
}
