using Tessera.Planner.Internal;

namespace Tessera.Planner;

/// <summary>One stage of a pipeline: a device and the layers it runs, with what that costs.</summary>
/// <param name="Replica">Which copy of the pipeline (0 when there is one).</param>
/// <param name="Index">Position in the pipeline, 0 first.</param>
/// <param name="DeviceId">The device running it.</param>
/// <param name="NodeId">The device's node.</param>
/// <param name="NodeName">The node's name.</param>
/// <param name="Layers">Blocks <c>[First, Last)</c>; the first stage also embeds, the last also applies the head.</param>
/// <param name="WeightBytes">Weights held (blocks, plus embedding and/or head where they apply).</param>
/// <param name="KvBytes">KV cache reserved for context x sessions.</param>
/// <param name="ScratchBytes">Working memory reserved (buffers, the last stage's logits).</param>
/// <param name="AvailableBytes">The device's memory usable by this plan (free memory less headroom).</param>
/// <param name="ComputeSeconds">Predicted time per decoded token in this stage: bytes read / bandwidth (or FLOPs / FLOP/s when slower).</param>
/// <param name="HopSeconds">Predicted time to send the token's activation to the next stage (for the last stage: the sampled token back to the first, relayed upstream by every stage; 0 with one stage).</param>
public sealed record PlanStage(
    int Replica,
    int Index,
    string DeviceId,
    string NodeId,
    string NodeName,
    LayerSpan Layers,
    long WeightBytes,
    long KvBytes,
    long ScratchBytes,
    long AvailableBytes,
    double ComputeSeconds,
    double HopSeconds)
{
    /// <summary>
    /// What the stage costs on a prompt (prefill), for <see cref="PipelinePlan.PrefillSeconds"/>; set on the plans the
    /// planner returns, null on stages built by hand.
    /// </summary>
    public StagePrefill? Prefill { get; init; }

    /// <summary>Memory the stage needs: weights, KV cache and scratch.</summary>
    public long MemoryBytes => WeightBytes + KvBytes + ScratchBytes;

    /// <summary>Compute plus the hop to the next stage.</summary>
    public double TokenSeconds => ComputeSeconds + HopSeconds;

    public override string ToString() =>
        $"stage {Index}: {DeviceId} on {NodeName}, layers {Layers} ({Layers.Count}), weights {Bytes.Format(WeightBytes)}, " +
        $"KV {Bytes.Format(KvBytes)}, {Bytes.Format(MemoryBytes)} of {Bytes.Format(AvailableBytes)}, " +
        $"{Bytes.Ms(ComputeSeconds)} + hop {Bytes.Ms(HopSeconds)} per token";
}
