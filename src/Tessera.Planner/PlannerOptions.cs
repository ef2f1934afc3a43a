using System.Collections.Frozen;

namespace Tessera.Planner;

/// <summary>Tunables of the planner. The defaults are what <c>tessera deploy</c> uses.</summary>
public sealed record PlannerOptions
{
    /// <summary>
    /// The measured table behind <see cref="CpuFlopsPerByteByType"/>: 4 x each type's prefill tokens/s over Q8_0's on
    /// the same machine (TinyLlama-1.1B shape, 128-token prompt, 2 threads), from docs/benchmarks.md's side-by-side
    /// runs of 2026-12-07 (each type's latest same-round ratio to llama.cpp times llama.cpp's figure in the all-types
    /// session), F32 from alternating runs against Q8_0 (2026-12-07 22:04-22:06 UTC). Q4_0's kernels reach 2.1 times
    /// Q8_0's FLOP/s, F16's 0.7. Declared before <see cref="Default"/>: static initializers run in order, and Default
    /// reads it.
    /// </summary>
    public static IReadOnlyDictionary<string, double> DefaultCpuFlopsPerByteByType { get; } =
        new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase)
        {
            ["Q8_0"] = 4,
            ["Q4_0"] = 8.4,
            ["Q4_1"] = 3.3,
            ["Q5_0"] = 3.5,
            ["Q5_1"] = 3.1,
            ["Q2_K"] = 5.8,
            ["Q3_K"] = 4.6,
            ["Q4_K"] = 5.9,
            ["Q5_K"] = 4.3,
            ["Q6_K"] = 4.4,
            ["IQ4_NL"] = 5.5,
            ["IQ4_XS"] = 4.5,
            ["F16"] = 2.8,
            ["BF16"] = 3.4,
            ["F32"] = 2.4,
        }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    public static PlannerOptions Default { get; } = new();

    /// <summary>
    /// A link between two nodes that the pool has not measured: 2 ms RTT, 2 ms p99 jitter, 12.5 MB/s (100 Mbit/s).
    /// Deliberately pessimistic (home Wi-Fi), so a measured link is always preferred to an unknown one.
    /// </summary>
    public LinkInfo UnknownLink { get; init; } = new(LinkInfo.AnyNode, LinkInfo.AnyNode, 2.0, 2.0, 12.5e6);

    /// <summary>Two devices of one node: 0.05 ms RTT, no jitter, 10 GB/s (loopback or PCIe).</summary>
    public LinkInfo SameNodeLink { get; init; } = new(LinkInfo.AnyNode, LinkInfo.AnyNode, 0.05, 0, 10e9);

    /// <summary>How hops are costed; replace to make the planner network-aware.</summary>
    public IHopCostModel HopCost { get; init; } = HopCostModel.Default;

    /// <summary>Working memory every stage needs besides weights and KV cache (buffers, runtime): 64 MiB.</summary>
    public long StageScratchBytes { get; init; } = 64L << 20;

    /// <summary>
    /// Fraction of the context that is filled, on average, when predicting decode speed: each token reads this much
    /// KV cache besides the weights. 0.5 = the middle of a full-length conversation.
    /// </summary>
    public double PredictionContextFill { get; init; } = 0.5;

    /// <summary>
    /// How many times faster than a device's speed (measured on layers) the output head streams its bytes: one wide
    /// product against a layer's small ones and its overheads. The head's bytes count divided by this. 1 unless learned:
    /// a coordinator sets it from its last stages' step times (on this CPU engine and a tiny model, about 2).
    /// </summary>
    public double HeadSpeedFactor { get; init; } = 1;

    /// <summary>
    /// Devices kept after prefiltering by speed and by memory (each). The search only looks at these, which keeps
    /// planning fast for pools of thousands of devices; more are added when the model needs more devices.
    /// </summary>
    public int CandidateDevices { get; init; } = 48;

    /// <summary>Most extra stages tried beyond the fewest that can hold the model.</summary>
    public int ExtraStagesTried { get; init; } = 3;

    /// <summary><see cref="PoolPlanner.Improve"/> changes a plan only when it is at least this much faster (0.20 = 20%).</summary>
    public double ImproveMinSpeedGain { get; init; } = 0.20;

    /// <summary>
    /// <see cref="PoolPlanner.Improve"/> also adopts a plan as fast for one stream (within 1%) when it is at least this
    /// much faster for many sessions (its slowest stage is faster), plus <see cref="ImproveGainPerMovedModel"/> as for
    /// any move: over devices of equal speed every split reads each layer once per token, so only this rebalances a
    /// split that noisy speed measurements made uneven. Higher than <see cref="ImproveMinSpeedGain"/> because a
    /// stage's pace is known less well than a pipeline's sum (0.50 = 50%).
    /// </summary>
    public double ImproveMinBalanceGain { get; init; } = 0.50;

    /// <summary>
    /// Extra gain <see cref="PoolPlanner.Improve"/> demands for moving the whole model (scaled by the fraction of the
    /// model's bytes that would move): with the defaults, moving everything needs 20% + 15% = 35% more speed.
    /// </summary>
    public double ImproveGainPerMovedModel { get; init; } = 0.15;

    /// <summary>
    /// FLOP/s a CPU is assumed to reach per byte/s of its measured bandwidth when its FLOP/s are unknown, for prefill
    /// of weights of a type <see cref="CpuFlopsPerByteByType"/> does not list, and for attention (its operands are
    /// activations, whatever the weights): 4, Q8_0's, from this engine's prefill of 128 tokens on a 2-core machine
    /// whose probe read 30-35 GB/s (TinyLlama-1.1B, 2.07 GFLOP a token: Q8_0 67-72 tokens/s, 140-150 GFLOP/s), which
    /// <c>tessera plan check</c> confirmed end to end. Decode never uses it: it is bound by the bandwidth. See
    /// docs/planner.md, <em>Prefill and time to first token</em>.
    /// </summary>
    public double CpuFlopsPerByte { get; init; } = 4;

    /// <summary>
    /// As <see cref="CpuFlopsPerByte"/> for each weight type (as ggml names it: Q4_0, Q6_K, F16, ...), because each type
    /// has its own prefill kernels: Q8_0 at 4, every other type at 4 x its prefill tokens/s over Q8_0's on the same
    /// machine (<see cref="DefaultCpuFlopsPerByteByType"/>; docs/planner.md, <em>Where the CPU factors come from</em>,
    /// has the figures and the commands). A type it does not list gets <see cref="CpuFlopsPerByte"/>. The default
    /// table's keys compare without case.
    /// </summary>
    public IReadOnlyDictionary<string, double> CpuFlopsPerByteByType { get; init; } = DefaultCpuFlopsPerByteByType;

    /// <summary>
    /// The FLOP/s per byte/s a CPU without measured FLOP/s is credited with on weights of <paramref name="weightType"/>:
    /// <see cref="CpuFlopsPerByteByType"/>'s entry when it has a positive one, else <see cref="CpuFlopsPerByte"/>.
    /// </summary>
    public double CpuFlopsPerByteOf(string? weightType) =>
        weightType is not null && CpuFlopsPerByteByType.TryGetValue(weightType, out var f) && f > 0 && double.IsFinite(f) ? f : CpuFlopsPerByte;

    /// <summary>
    /// As <see cref="CpuFlopsPerByte"/> for a GPU: 20, not measured on this engine yet (no GPU has been lent to it):
    /// plain FP32 kernels without tensor cores reach about half of a card's 40-80 FLOP per byte of bandwidth.
    /// </summary>
    public double GpuFlopsPerByte { get; init; } = 20;

    /// <summary>
    /// With <see cref="PlanRequest.AutoReplicas"/>, every replica must decode one session at least this fraction as
    /// fast as the best one-replica plan (0.8: more replicas never cost a chat user more than a fifth of the speed).
    /// </summary>
    public double AutoReplicaMinSingleStream { get; init; } = 0.8;

    /// <summary>Most replicas <see cref="PlanRequest.AutoReplicas"/> tries.</summary>
    public int MaxAutoReplicas { get; init; } = 64;

    /// <summary>
    /// Tokens drawn to predict a pipeline's p50 and p99 time per token from its links' jitter (10,000). 0 turns the
    /// draws off: both percentiles are then the time per token with every link at its median.
    /// </summary>
    public int LatencySamples { get; init; } = 10_000;

    /// <summary>Seed of those draws: fixed, so the same plan always predicts the same percentiles.</summary>
    public ulong LatencySeed { get; init; } = 0x7E55E2A;

    /// <summary>
    /// The spread of one CPU stage's compute per decoded token, as its p99 over its p50, for
    /// <see cref="PipelinePlan.TokenLatencyP99Seconds"/>: each stage's compute is drawn log-normal around its
    /// prediction (the median), independently of the other stages'. 1.2: the spread this engine showed on one stage of
    /// TinyLlama-1.1B Q4_0, one thread, on the 2-core development machine (p50 / p1 1.17-1.22 alone, p99 / p50 1.22 end
    /// to end through the API with nothing else running; 1.3 and more whenever another process shared the cores), low
    /// on purpose: a pool of machines that run nothing else shows less. 1 takes compute as constant. See
    /// docs/planner.md, <em>Token latency</em>.
    /// </summary>
    public double CpuComputeTailP99 { get; init; } = 1.2;

    /// <summary>
    /// As <see cref="CpuComputeTailP99"/> for a GPU stage: 1.1, not measured (no GPU has been lent to this engine's
    /// measurements yet): a dedicated card's kernels vary less than a shared CPU's, the host's share of a token still
    /// varies.
    /// </summary>
    public double GpuComputeTailP99 { get; init; } = 1.1;

    /// <summary>The link between two nodes (<see cref="SameNodeLink"/> when they are one).</summary>
    public LinkInfo LinkBetween(ClusterDescription cluster, string nodeA, string nodeB)
    {
        if (string.Equals(nodeA, nodeB, StringComparison.Ordinal))
            return SameNodeLink;
        return cluster.FindLink(nodeA, nodeB) ?? UnknownLink;
    }
}
