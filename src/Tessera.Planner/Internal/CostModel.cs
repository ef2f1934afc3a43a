namespace Tessera.Planner.Internal;

/// <summary>
/// Memory and time of a stage for one request: O(1) per (device, layer range) through prefix sums. Everything the
/// search and the re-planner know about cost goes through here, so both predict the same numbers.
/// </summary>
internal sealed class CostModel
{
    /// <summary>Bytes of the sampled token relayed from the last stage back to the first.</summary>
    public const long TokenBytes = PoolPlanner.SampledTokenBytes;

    private readonly long[] _bytes;
    private readonly double[] _flops;
    private readonly long _kvPerLayer;
    private readonly double _kvReadPerLayer;
    private readonly long[] _readBytes;
    private readonly long[] _memory;   // [first * (L + 1) + last]
    private readonly double[] _read;   // bytes read per token, same layout
    private readonly double[] _work;   // FLOPs per token, same layout

    public CostModel(PlanRequest request, PlannerOptions options)
    {
        Request = request;
        Options = options;
        Model = request.Model;
        L = Model.LayerCount;
        _bytes = Model.LayerPrefixBytes;
        _readBytes = Model.LayerReadPrefixBytes;
        _flops = new double[L + 1];
        for (var i = 0; i < L; i++)
            _flops[i + 1] = _flops[i] + Model.LayerFlopsPerToken[i];
        _kvPerLayer = checked(Model.KvBytesPerTokenPerLayer * (long)request.ContextLength * request.MaxSessions);
        _kvReadPerLayer = Model.KvBytesPerTokenPerLayer * (double)request.ContextLength * Math.Clamp(options.PredictionContextFill, 0, 1);
        ActivationBytes = Model.ActivationBytesPerToken(request.ActivationBytesPerElement);

        // Device-independent costs of every range, so the split's inner loop is two array reads and a division.
        var n = (L + 1) * (L + 1);
        _memory = new long[n];
        _read = new double[n];
        _work = new double[n];
        for (var first = 0; first < L; first++)
        {
            for (var last = first + 1; last <= L; last++)
            {
                var i = first * (L + 1) + last;
                _memory[i] = Weights(first, last) + Kv(first, last) + Scratch(first, last);
                // Decode reads what the blocks read per token: of a mixture of experts, the chosen experts only.
                var read = (double)(_readBytes[last] - _readBytes[first]) + (last - first) * _kvReadPerLayer;
                var flops = _flops[last] - _flops[first];
                if (last == L)
                {
                    read += Model.HeadBytes / HeadFactor(options);
                    flops += Model.HeadFlopsPerToken;
                }
                _read[i] = read;
                _work[i] = flops;
            }
        }
    }

    private static double HeadFactor(PlannerOptions options) =>
        options.HeadSpeedFactor is > 0 and var f && double.IsFinite(f) ? f : 1;

    public PlanRequest Request { get; }

    public PlannerOptions Options { get; }

    public ModelProfile Model { get; }

    public int L { get; }

    public long ActivationBytes { get; }

    /// <summary>Memory the device gives this plan: free memory less headroom.</summary>
    public long Available(DeviceInfo d) =>
        Math.Max(0, d.FreeMemoryBytes - (long)Math.Ceiling(d.FreeMemoryBytes * Request.MemoryHeadroomFraction));

    public long Weights(int first, int last) => Model.StageWeightBytes(new LayerSpan(first, last));

    public long Kv(int first, int last) => (last - first) * _kvPerLayer;

    public long Scratch(int first, int last) =>
        Options.StageScratchBytes + (last == L ? 4L * Model.VocabSize * Request.MaxSessions : 0);

    public long Memory(int first, int last) => _memory[first * (L + 1) + last];

    /// <summary>The least memory the whole model needs on one device.</summary>
    public long WholeModelBytes => Memory(0, L);

    /// <summary>The least memory the model needs over <paramref name="stages"/> stages (scratch and shared tensors per stage).</summary>
    public long TotalBytes(int stages) =>
        WholeModelBytes + (stages - 1) * (Options.StageScratchBytes + Model.SharedBytes) +
        (Model.TiedEmbedding && stages > 1 ? Model.EmbeddingBytes : 0);

    /// <summary>Bytes one decoded token reads in a stage of blocks [first, last): its blocks, the KV cache at the predicted fill, the head when last (over <see cref="PlannerOptions.HeadSpeedFactor"/>: bytes at the device's layer speed).</summary>
    public double ReadBytes(int first, int last) => _read[first * (L + 1) + last];

    /// <summary>
    /// Seconds one decoded token spends in a stage on <paramref name="d"/>: the bytes it reads (its blocks, the KV
    /// cache at the predicted fill, the head when last) over the device's bandwidth, or its FLOPs over the device's
    /// FLOP/s when that is slower.
    /// </summary>
    public double Compute(DeviceInfo d, int first, int last)
    {
        var i = first * (L + 1) + last;
        var t = _read[i] / (d.MemoryBandwidthGBps * 1e9);
        if (d.FlopsPerSecond is > 0 and var f)
            t = Math.Max(t, _work[i] / f);
        return t;
    }

    /// <summary>Seconds to send <paramref name="bytes"/> from a stage on <paramref name="from"/> to one on <paramref name="to"/>.</summary>
    public double Hop(ClusterDescription cluster, DeviceInfo from, DeviceInfo to, long bytes) =>
        Options.HopCost.HopSeconds(Options.LinkBetween(cluster, from.NodeId, to.NodeId), bytes);

    /// <summary>
    /// Seconds the sampled token takes from the last stage back to the first: every stage relays it upstream on the
    /// lane it came in on (the protocol has no link from the last stage to the first), so it crosses each link of the
    /// pipeline once more, backwards.
    /// </summary>
    public double Return(ClusterDescription cluster, IReadOnlyList<DeviceInfo> devices)
    {
        var seconds = 0.0;
        for (var i = devices.Count - 1; i > 0; i--)
            seconds += Hop(cluster, devices[i], devices[i - 1], TokenBytes);
        return seconds;
    }

    /// <summary>The stages of a pipeline over <paramref name="devices"/> (in order) holding <paramref name="spans"/>.</summary>
    public PipelinePlan Build(ClusterDescription cluster, int replica, IReadOnlyList<DeviceInfo> devices, IReadOnlyList<LayerSpan> spans)
    {
        var stages = new PlanStage[devices.Count];
        for (var i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            var s = spans[i];
            var hop = devices.Count == 1 ? 0 : i < devices.Count - 1 ? Hop(cluster, d, devices[i + 1], ActivationBytes) : Return(cluster, devices);
            stages[i] = new PlanStage(replica, i, d.Id, d.NodeId, d.NodeName, s, Weights(s.First, s.Last), Kv(s.First, s.Last),
                Scratch(s.First, s.Last), Available(d), Compute(d, s.First, s.Last), hop);
        }
        return new PipelinePlan(replica, stages);
    }

    /// <summary>
    /// Orders candidate pipelines: lower single-stream time, then lower bottleneck, then fewer stages, then device ids
    /// (ordinal) so that equal candidates resolve the same way every time.
    /// </summary>
    public static int Compare(PipelinePlan a, PipelinePlan b)
    {
        var c = CompareTimes(a.TokenSeconds, b.TokenSeconds);
        if (c != 0)
            return c;
        c = CompareTimes(a.BottleneckSeconds, b.BottleneckSeconds);
        if (c != 0)
            return c;
        c = a.Stages.Count.CompareTo(b.Stages.Count);
        if (c != 0)
            return c;
        for (var i = 0; i < a.Stages.Count; i++)
        {
            c = string.CompareOrdinal(a.Stages[i].DeviceId, b.Stages[i].DeviceId);
            if (c != 0)
                return c;
            c = a.Stages[i].Layers.Last.CompareTo(b.Stages[i].Layers.Last);
            if (c != 0)
                return -c; // more layers early first
        }
        return 0;
    }

    private static int CompareTimes(double a, double b)
    {
        var tolerance = 1e-9 * Math.Max(Math.Abs(a), Math.Abs(b));
        return Math.Abs(a - b) <= tolerance ? 0 : a.CompareTo(b);
    }
}
