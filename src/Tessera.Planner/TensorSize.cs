namespace Tessera.Planner;

/// <summary>The size of one tensor of a model file: what <see cref="ModelProfile.FromTensors"/> needs to know.</summary>
/// <param name="Name">GGUF tensor name: token_embd.weight, output.weight, output_norm.weight, blk.N.*.</param>
/// <param name="ElementCount">Number of parameters (used for FLOPs).</param>
/// <param name="ByteSize">Bytes stored (used for memory and bandwidth).</param>
/// <param name="Type">
/// The type the tensor is stored in, as ggml names it (Q4_0, Q6_K, F16, ...), or null when not known: it picks the
/// prefill kernel, so a CPU's prefill FLOP/s (<see cref="PlannerOptions.CpuFlopsPerByteByType"/>).
/// </param>
public readonly record struct TensorSize(string Name, long ElementCount, long ByteSize, string? Type = null);
