namespace Tessera.Planner.Internal;

/// <summary>
/// What a chosen pipeline is predicted to do beyond decoding: prefill of a prompt and the spread of its time per
/// token. Computed only for the pipelines the planner returns (the search compares candidates by decode time alone),
/// so that drawing thousands of tokens never multiplies by the candidates tried.
/// </summary>
internal static class Prediction
{
    /// <summary>ln(100): an exponential's 99th percentile is its mean times this.</summary>
    private static readonly double Ln100 = Math.Log(100);

    /// <summary>The plan with every pipeline's stages carrying prefill costs, and its latency percentiles and prompt figures set.</summary>
    public static Plan Finish(CostModel cost, ClusterDescription cluster, Plan plan, Func<string, DeviceInfo?> find)
    {
        var pipelines = new PipelinePlan[plan.Pipelines.Count];
        for (var i = 0; i < pipelines.Length; i++)
        {
            var p = plan.Pipelines[i];
            var devices = new DeviceInfo[p.Stages.Count];
            for (var s = 0; s < devices.Length; s++)
                devices[s] = find(p.Stages[s].DeviceId) ?? throw new InvalidOperationException($"Device {p.Stages[s].DeviceId} of the plan is not in the pool.");
            pipelines[i] = Finish(cost, cluster, devices, p);
        }
        return plan with { Pipelines = pipelines };
    }

    /// <summary><paramref name="pipeline"/> (on <paramref name="devices"/>, in order) with prefill costs, latency percentiles and prompt figures.</summary>
    public static PipelinePlan Finish(CostModel cost, ClusterDescription cluster, IReadOnlyList<DeviceInfo> devices, PipelinePlan pipeline)
    {
        var stages = new PlanStage[pipeline.Stages.Count];
        for (var i = 0; i < stages.Length; i++)
            stages[i] = pipeline.Stages[i] with { Prefill = StagePrefill(cost, cluster, devices, i, pipeline.Stages[i].Layers) };
        var (p50, p99) = TokenLatency(cost, cluster, devices, pipeline);
        var finished = pipeline with { Stages = stages, TokenLatencyP50Seconds = p50, TokenLatencyP99Seconds = p99 };
        var n = cost.Request.PromptTokens;
        return finished with { Prompt = new PromptPrediction(n, finished.PrefillSeconds(n), finished.TimeToFirstTokenSeconds(n)) };
    }

    /// <summary>
    /// The device's FLOP/s for prefill of <paramref name="layers"/>, on the weights and on attention. Measured when
    /// known, for both. Otherwise its bandwidth times a FLOP/s per byte/s: on a GPU <see cref="PlannerOptions.GpuFlopsPerByte"/>
    /// for both; on a CPU, for the weights, each weight type's <see cref="PlannerOptions.CpuFlopsPerByteOf"/> combined
    /// by the FLOPs stored in it (<see cref="CpuWeightFlopsPerByte"/>), and for attention, whose operands are
    /// activations, <see cref="PlannerOptions.CpuFlopsPerByte"/>.
    /// </summary>
    public static (double Weights, double Attention, bool Measured) Flops(PlannerOptions options, DeviceInfo d, ModelProfile model, LayerSpan layers)
    {
        if (d.FlopsPerSecond is > 0 and var f && double.IsFinite(f))
            return (f, f, true);
        var bandwidth = d.MemoryBandwidthGBps * 1e9;
        if (d.Kind == DeviceKind.Gpu)
            return (bandwidth * options.GpuFlopsPerByte, bandwidth * options.GpuFlopsPerByte, false);
        return (bandwidth * CpuWeightFlopsPerByte(options, model, layers), bandwidth * options.CpuFlopsPerByte, false);
    }

    /// <summary>
    /// A CPU's FLOP/s per byte/s on the weights of <paramref name="layers"/>: their FLOPs over the time each type's
    /// share takes at its own factor (FLOPs / factor, added up). Times add, rates do not: a Q4_K_M block whose Q6_K
    /// matrices run slower than its Q4_K ones takes the sum of both times. A block without known types counts at
    /// <see cref="PlannerOptions.CpuFlopsPerByte"/>.
    /// </summary>
    internal static double CpuWeightFlopsPerByte(PlannerOptions options, ModelProfile model, LayerSpan layers)
    {
        double flops = 0, seconds = 0; // seconds at one byte/s of bandwidth
        for (var l = layers.First; l < layers.Last; l++)
        {
            var blockFlops = model.LayerFlopsPerToken[l];
            double typed = 0, typedSeconds = 0;
            if (model.LayerFlopsByType is { } types)
            {
                foreach (var t in types[l])
                {
                    if (!(t.FlopsPerToken > 0))
                        continue;
                    typed += t.FlopsPerToken;
                    typedSeconds += t.FlopsPerToken / options.CpuFlopsPerByteOf(t.Type);
                }
            }
            flops += blockFlops;
            seconds += typed > 0 ? blockFlops * typedSeconds / typed : blockFlops / options.CpuFlopsPerByte;
        }
        return seconds > 0 ? flops / seconds : options.CpuFlopsPerByte;
    }

    private static StagePrefill StagePrefill(CostModel cost, ClusterDescription cluster, IReadOnlyList<DeviceInfo> devices, int index, LayerSpan layers)
    {
        var model = cost.Model;
        var d = devices[index];
        var last = layers.Last == cost.L;
        // Reading every weight once: the blocks (of a mixture of experts, all experts: a long prompt touches them all),
        // the shared tensors and the head; the embedding is only looked up, a row per token.
        var readOnce = (double)model.LayerBytes(layers) + model.SharedBytes + (last ? model.HeadBytes : 0);
        var flopsPerToken = 0.0;
        for (var l = layers.First; l < layers.Last; l++)
            flopsPerToken += model.LayerFlopsPerToken[l];
        var (flops, attention, measured) = Flops(cost.Options, d, model, layers);
        double latency = 0, perToken = 0;
        if (index < devices.Count - 1)
        {
            var link = cost.Options.LinkBetween(cluster, d.NodeId, devices[index + 1].NodeId);
            latency = cost.Options.HopCost.HopSeconds(link, 0);
            perToken = Math.Max(0, cost.Options.HopCost.HopSeconds(link, cost.ActivationBytes) - latency);
        }
        return new StagePrefill(
            FlopsPerToken: flopsPerToken,
            AttentionFlopsPerTokenSquared: 2.0 * model.HiddenSize * layers.Count,
            FixedFlops: last ? model.HeadFlopsPerToken : 0, // logits of the last position only
            FlopsPerSecond: flops,
            AttentionFlopsPerSecond: attention,
            FlopsMeasured: measured,
            WeightReadSeconds: readOnce / (d.MemoryBandwidthGBps * 1e9),
            HopLatencySeconds: latency,
            HopSecondsPerToken: perToken);
    }

    /// <summary>
    /// p50 and p99 of one session's time per token. Every crossing of a link (the activation forward, the sampled token
    /// back) takes the hop cost without jitter plus an exponential delay whose 99th percentile is half the link's p99
    /// jitter (its one-way share): so one crossing's p99 is exactly the planner's hop cost, and a pipeline's p99 is what
    /// the sum of many independent crossings gives, well below the sum of their p99s. Every stage's compute is its
    /// predicted time times a log-normal factor of median 1 whose 99th percentile is the device kind's
    /// <see cref="PlannerOptions.CpuComputeTailP99"/> or <see cref="PlannerOptions.GpuComputeTailP99"/>, independent
    /// between stages. Drawn for <see cref="PlannerOptions.LatencySamples"/> tokens from
    /// <see cref="PlannerOptions.LatencySeed"/>; crossings without jitter and stages with a tail of 1 are added as
    /// constants, so such a pipeline costs no draws and its p50 = p99 = its token time (as with
    /// <see cref="PlannerOptions.LatencySamples"/> 0, which turns the draws off).
    /// </summary>
    internal static (double P50, double P99) TokenLatency(CostModel cost, ClusterDescription cluster, IReadOnlyList<DeviceInfo> devices, PipelinePlan pipeline)
    {
        var options = cost.Options;
        var constant = 0.0;
        var tails = new List<(double Seconds, DeviceKind Kind, double Sigma)>();
        for (var i = 0; i < pipeline.Stages.Count; i++)
        {
            var seconds = pipeline.Stages[i].ComputeSeconds;
            var sigma = ComputeSigma(options, devices[i].Kind);
            if (sigma > 0 && seconds > 0 && options.LatencySamples > 0)
                tails.Add((seconds, devices[i].Kind, sigma));
            else
                constant += seconds;
        }
        var means = new List<double>();
        for (var i = 0; i + 1 < devices.Count; i++)
        {
            var link = options.LinkBetween(cluster, devices[i].NodeId, devices[i + 1].NodeId);
            var still = link.JitterP99Ms > 0 ? link with { JitterP99Ms = 0 } : link;
            constant += options.HopCost.HopSeconds(still, cost.ActivationBytes) + options.HopCost.HopSeconds(still, CostModel.TokenBytes);
            var jitter = link.MeasuredJitterP99Ms ?? link.JitterP99Ms;
            if (jitter > 0 && double.IsFinite(jitter))
            {
                var mean = jitter / 2 / 1000 / Ln100;
                means.Add(mean); // forward
                means.Add(mean); // the sampled token back
            }
        }
        var n = options.LatencySamples;
        if ((means.Count == 0 && tails.Count == 0) || n <= 0)
            return (constant, constant);
        // One table of standard exponential draws, read by crossing c at token t at (t + c x stride) mod n: each token's
        // crossings get distinct draws (independent, as the model wants) for n logarithms in all instead of n per
        // crossing, which kept PoolPlanner.Place (a simulator calls it thousands of times) cheap on long pipelines.
        // Stages read their kind's table of log-normal factors the same way, each at its own offset.
        var samples = new double[n];
        samples.AsSpan().Fill(constant);
        var stride = Stride(n);
        if (means.Count > 0)
        {
            var draws = Draws(options.LatencySeed, n);
            for (var c = 0; c < means.Count; c++)
                AddScaled(samples, means[c], draws, (int)((long)c * stride % n));
        }
        for (var s = 0; s < tails.Count; s++)
        {
            var (seconds, kind, sigma) = tails[s];
            AddScaled(samples, seconds, Factors(options.LatencySeed, n, kind, sigma), (int)((long)s * stride % n));
        }
        // Two selections rather than a sort: a simulator predicts thousands of pipelines.
        var p50 = Select(samples, Rank(0.50, n));
        var p99 = Select(samples, Rank(0.99, n));
        return (p50, p99);
    }

    /// <summary>
    /// The log-normal's sigma for a compute tail (p99 / p50) of the device kind: ln(tail) / z(0.99). 0 (no draws) for a
    /// tail of 1 or less, or not a number.
    /// </summary>
    private static double ComputeSigma(PlannerOptions options, DeviceKind kind)
    {
        var tail = kind == DeviceKind.Gpu ? options.GpuComputeTailP99 : options.CpuComputeTailP99;
        return tail > 1 && double.IsFinite(tail) ? Math.Log(tail) / Z99 : 0;
    }

    /// <summary>The standard normal's 99th percentile.</summary>
    private const double Z99 = 2.3263478740408408;

    /// <summary><paramref name="samples"/>[t] += <paramref name="scale"/> x <paramref name="table"/>[(t + offset) mod n].</summary>
    private static void AddScaled(Span<double> samples, double scale, double[] table, int offset)
    {
        var n = table.Length;
        for (var t = 0; t < samples.Length; t++)
        {
            var i = t + offset;
            samples[t] += scale * table[i < n ? i : i - n];
        }
    }

    /// <summary>The last table of standard exponential draws, kept: every pipeline of every plan reads the same one.</summary>
    private static DrawTable? s_draws;

    private static double[] Draws(ulong seed, int n)
    {
        // One reference swapped whole (a struct could tear between threads); threads planning at once at worst each
        // build the same table.
        if (s_draws is { } cached && cached.Seed == seed && cached.Draws.Length == n)
            return cached.Draws;
        var draws = new double[n];
        var rng = new SplitMix64(seed);
        for (var t = 0; t < draws.Length; t++)
            draws[t] = -Math.Log(1 - rng.NextDouble()); // 1 - U is in (0, 1]
        s_draws = new DrawTable(seed, draws);
        return draws;
    }

    private sealed record DrawTable(ulong Seed, double[] Draws);

    /// <summary>The last table of log-normal compute factors of each device kind, kept as <see cref="s_draws"/> is.</summary>
    private static readonly FactorTable?[] s_factors = new FactorTable?[Enum.GetValues<DeviceKind>().Length];

    /// <summary>
    /// <paramref name="n"/> draws of exp(sigma x Z), Z standard normal (Box-Muller), from a stream of
    /// <paramref name="seed"/> of their own (its complement), so that they are independent of the crossings' draws.
    /// </summary>
    private static double[] Factors(ulong seed, int n, DeviceKind kind, double sigma)
    {
        if (s_factors[(int)kind] is { } cached && cached.Seed == seed && cached.Sigma == sigma && cached.Factors.Length == n)
            return cached.Factors;
        var factors = new double[n];
        var rng = new SplitMix64(~seed);
        for (var t = 0; t < n; t += 2)
        {
            var radius = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())); // 1 - U is in (0, 1]
            var (sin, cos) = Math.SinCos(2 * Math.PI * rng.NextDouble());
            factors[t] = Math.Exp(sigma * radius * cos);
            if (t + 1 < n)
                factors[t + 1] = Math.Exp(sigma * radius * sin);
        }
        s_factors[(int)kind] = new FactorTable(seed, sigma, factors);
        return factors;
    }

    private sealed record FactorTable(ulong Seed, double Sigma, double[] Factors);

    /// <summary>Nearest rank: the smallest sample with at least <paramref name="p"/> of the samples at or below it, as an index.</summary>
    private static int Rank(double p, int n) => Math.Clamp((int)Math.Ceiling(p * n) - 1, 0, n - 1);

    /// <summary>The <paramref name="k"/>-th smallest of <paramref name="values"/> (reordered in place): Hoare's selection, O(n) on average.</summary>
    private static double Select(Span<double> values, int k)
    {
        var lo = 0;
        var hi = values.Length - 1;
        while (lo < hi)
        {
            var pivot = values[lo + (hi - lo) / 2];
            var i = lo;
            var j = hi;
            while (i <= j)
            {
                while (values[i] < pivot)
                    i++;
                while (values[j] > pivot)
                    j--;
                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }
            if (k <= j)
                hi = j;
            else if (k >= i)
                lo = i;
            else
                return values[k];
        }
        return values[k];
    }

    /// <summary>
    /// A step between crossings' offsets that is coprime to <paramref name="n"/> and far from 1, so that neighbouring
    /// tokens do not share most of their draws; with more crossings than samples (never in practice) draws repeat.
    /// </summary>
    private static int Stride(int n)
    {
        var stride = Math.Max(1, (int)(n * 0.618));
        while (Gcd(stride, n) != 1)
            stride++;
        return stride;
    }

    private static int Gcd(int a, int b)
    {
        while (b != 0)
            (a, b) = (b, a % b);
        return a;
    }
}
