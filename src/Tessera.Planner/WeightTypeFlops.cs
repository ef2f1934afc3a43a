namespace Tessera.Planner;

/// <summary>The FLOPs per token a block spends on weights stored in one type (see <see cref="ModelProfile.LayerFlopsByType"/>).</summary>
/// <param name="Type">The weight type as ggml names it (Q4_0, Q6_K, F16, ...).</param>
/// <param name="FlopsPerToken">FLOPs one token costs in the block's tensors of that type (2 x their parameters).</param>
public readonly record struct WeightTypeFlops(string Type, double FlopsPerToken);
