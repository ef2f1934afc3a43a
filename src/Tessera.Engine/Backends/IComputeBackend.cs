using Tessera.Engine.Model;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Backends;

/// <summary>
/// The seam between model code and kernels. The model calls only these operations, so a GPU backend
/// can be added without touching the model. Activations are row-major float32: <c>tokens x width</c>.
/// </summary>
public interface IComputeBackend : IDisposable
{
    /// <summary>Short name for logs and benchmarks, e.g. "cpu-avx512 (2 threads)".</summary>
    string Name { get; }

    /// <summary>Threads the backend computes with.</summary>
    int Threads { get; }

    /// <summary>
    /// The caller will not compute for a while (a pipeline stage waiting for its next message): the backend may let
    /// its threads sleep instead of spinning, leaving the cores to other processes.
    /// </summary>
    void Idle()
    {
    }

    /// <summary>
    /// y[t, r] = sum_k W[r, k] * x[t, k] for t in [0, tokens). <paramref name="x"/> holds
    /// tokens x w.Cols floats, <paramref name="y"/> tokens x w.Rows floats. As in llama.cpp, quantized weights meet
    /// x quantized to 8 bits (Q8_0 or Q8_K) and F16 weights meet x rounded to f16.
    /// </summary>
    void MatMul(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int tokens);

    /// <summary>
    /// Products of one input with several matrices of the same column count (attention's Q, K and V; the feed-forward
    /// gate and up): <paramref name="y"/> holds the outputs one after the other, tokens x rows of each matrix in order.
    /// Results equal separate <see cref="MatMul"/> calls; a backend may share the input's preparation and run all rows
    /// in one parallel pass.
    /// </summary>
    void MatMulGroup(ReadOnlySpan<WeightMatrix> weights, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        var offset = 0;
        foreach (var w in weights)
        {
            MatMul(w, x, y.Slice(offset, tokens * w.Rows), tokens);
            offset += tokens * w.Rows;
        }
    }

    /// <summary>Dequantizes rows <paramref name="rows"/> of <paramref name="w"/> (embedding lookup) into rows.Length x w.Cols floats.</summary>
    void GetRows(in WeightMatrix w, ReadOnlySpan<int> rows, Span<float> output);

    /// <summary>y = x / sqrt(mean(x^2) + eps) * weight, for each of <paramref name="tokens"/> rows.</summary>
    void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int tokens, float eps);

    /// <summary>output = silu(gate) * up, element-wise.</summary>
    void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output);

    /// <summary>Rotates the heads of <paramref name="tokens"/> rows in place, row t at position startPosition + t.</summary>
    void Rope(Span<float> x, int tokens, int heads, int headDim, int startPosition, RopeTable table);

    /// <summary>
    /// Causal (grouped-query) attention for one sequence. <paramref name="queries"/>: Tokens x QueryWidth;
    /// <paramref name="keys"/>, <paramref name="values"/>: (StartPosition + Tokens) x KvWidth; output: Tokens x QueryWidth.
    /// </summary>
    void Attention(ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output, in AttentionShape shape);

    /// <summary>
    /// <see cref="Attention"/> for every sequence of a batch (a decode step of many sessions): sequence s reads rows
    /// [FirstRow, FirstRow + Tokens) of <paramref name="queries"/> and writes them in <paramref name="output"/> (rows of
    /// QueryWidth floats). Results equal separate calls; a backend may run all sequences in one parallel pass.
    /// </summary>
    void AttentionBatch(ReadOnlySpan<float> queries, ReadOnlySpan<AttentionSequence> sequences, Span<float> output) =>
        AttentionOneByOne(this, queries, sequences, output);

    /// <summary><see cref="AttentionBatch"/> as one <see cref="Attention"/> call of <paramref name="backend"/> per sequence.</summary>
    internal static void AttentionOneByOne(IComputeBackend backend, ReadOnlySpan<float> queries, ReadOnlySpan<AttentionSequence> sequences, Span<float> output)
    {
        foreach (var s in sequences)
        {
            var width = s.Shape.QueryWidth;
            backend.Attention(queries.Slice(s.FirstRow * width, s.Shape.Tokens * width), s.Keys.Span, s.Values.Span,
                output.Slice(s.FirstRow * width, s.Shape.Tokens * width), s.Shape);
        }
    }
}
