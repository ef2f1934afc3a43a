namespace Tessera.Engine.Synthetic;

/// <summary>What a weight matrix is in a Llama-style block, as llama.cpp's quantizer tells them apart.</summary>
public enum TensorRole
{
    TokenEmbedding,
    Output,
    AttentionQ,
    AttentionK,
    AttentionV,
    AttentionOutput,
    FeedForwardGate,
    FeedForwardUp,
    FeedForwardDown,
}
