namespace Tessera.Planner;

/// <summary>The size of one tensor of a model file: what <see cref="ModelProfile.FromTensors"/> needs to know.</summary>
/// <param name="Name">GGUF tensor name: token_embd.weight, output.weight, output_norm.weight, blk.N.*.</param>
/// <param name="ElementCount">Number of parameters (used for FLOPs).</param>
/// <param name="ByteSize">Bytes stored (used for memory and bandwidth).</param>
public readonly record struct TensorSize(string Name, long ElementCount, long ByteSize);
