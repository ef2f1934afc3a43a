using Tessera.Engine.Model;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Backends;

/// <summary>
/// The seam between model code and kernels. The model calls only these operations, on tensors the backend allocated
/// (<see cref="Allocate"/>): hidden states and the KV cache live where the backend computes (host memory for the CPU,
/// device memory for a GPU) and only a stage's input and output cross over (<see cref="Upload"/>,
/// <see cref="Download"/>). Activations are row-major float32: <c>tokens x width</c>. Operations may be queued
/// (a GPU's stream); <see cref="Download"/> waits for them.
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
    /// Where a stage keeps the host copy of its matrices when the caller leaves it to the backend: the CPU copies them
    /// (huge pages, regrouped layouts); a GPU, which holds its own copy on the device, reads them from the memory map once.
    /// </summary>
    WeightStorage PreferredStorage => WeightStorage.Auto;

    /// <summary>
    /// Measures how fast this backend reads the memory its weights live in, GB/s (host memory for the CPU, device
    /// memory for a GPU): the bound a decode step's speed is compared with. Takes a fraction of a second.
    /// </summary>
    double MeasureReadBandwidthGBps();

    /// <summary>A buffer of <paramref name="floats"/> floats in the backend's memory (contents unspecified).</summary>
    BackendBuffer Allocate(int floats);

    /// <summary>Copies host floats into a backend tensor of the same length.</summary>
    void Upload(ReadOnlySpan<float> source, in BackendTensor destination);

    /// <summary>Copies a backend tensor to host floats of the same length, after every queued operation has finished.</summary>
    void Download(in BackendTensor source, Span<float> destination);

    /// <summary>Copies one backend tensor to another of the same length (they must not overlap).</summary>
    void Copy(in BackendTensor source, in BackendTensor destination);

    /// <summary>
    /// Makes <paramref name="w"/> ready for products on this backend, called once per matrix when a stage loads (a GPU
    /// copies it to device memory then rather than at the first product). The caller keeps the matrix's memory alive.
    /// </summary>
    void Prepare(in WeightMatrix w)
    {
    }

    /// <summary>
    /// y[t, r] = sum_k W[r, k] * x[t, k] for t in [0, tokens). <paramref name="x"/> holds
    /// tokens x w.Cols floats, <paramref name="y"/> tokens x w.Rows floats. As in llama.cpp, quantized weights meet
    /// x quantized to 8 bits (Q8_0 or Q8_K) and F16 weights meet x rounded to f16.
    /// </summary>
    void MatMul(in WeightMatrix w, in BackendTensor x, in BackendTensor y, int tokens);

    /// <summary>
    /// Products of one input with several matrices of the same column count (attention's Q, K and V; the feed-forward
    /// gate and up): <paramref name="y"/> holds the outputs one after the other, tokens x rows of each matrix in order.
    /// Results equal separate <see cref="MatMul"/> calls; a backend may share the input's preparation and run all rows
    /// in one parallel pass.
    /// </summary>
    void MatMulGroup(ReadOnlySpan<WeightMatrix> weights, in BackendTensor x, in BackendTensor y, int tokens)
    {
        var offset = 0;
        foreach (var w in weights)
        {
            MatMul(w, x, y.Slice(offset, tokens * w.Rows), tokens);
            offset += tokens * w.Rows;
        }
    }

    /// <summary>
    /// Dequantizes rows <paramref name="rows"/> of <paramref name="w"/> (embedding lookup) into rows.Length x w.Cols
    /// floats. Throws <see cref="ArgumentOutOfRangeException"/> for a row outside the matrix.
    /// </summary>
    void GetRows(in WeightMatrix w, ReadOnlySpan<int> rows, in BackendTensor output);

    /// <summary>y = x / sqrt(mean(x^2) + eps) * weight, for each of <paramref name="tokens"/> rows.</summary>
    void RmsNorm(in BackendTensor x, in BackendTensor weight, in BackendTensor y, int tokens, float eps);

    /// <summary>output = silu(gate) * up, element-wise.</summary>
    void SwiGlu(in BackendTensor gate, in BackendTensor up, in BackendTensor output);

    /// <summary>output = gelu(gate) * up, element-wise, GELU as llama.cpp evaluates it (Gemma 2's feed-forward).</summary>
    void GeGlu(in BackendTensor gate, in BackendTensor up, in BackendTensor output);

    /// <summary>x = x * factor, element-wise, in place.</summary>
    void Scale(in BackendTensor x, float factor);

    /// <summary>x = cap * tanh(x * (1 / cap)), element-wise, in place (Gemma 2's final logits).</summary>
    void SoftCap(in BackendTensor x, float cap);

    /// <summary>y = a + b, element-wise (y may be a or b).</summary>
    void Add(in BackendTensor a, in BackendTensor b, in BackendTensor y);

    /// <summary>Adds <paramref name="bias"/> to each of the <paramref name="tokens"/> rows of <paramref name="rows"/>.</summary>
    void AddBias(in BackendTensor rows, in BackendTensor bias, int tokens);

    /// <summary>Rounds every value to the nearest f16 (round-to-nearest-even), as llama.cpp's f16 KV cache and activations do.</summary>
    void RoundToHalf(in BackendTensor x);

    /// <summary>Rounds every value to the nearest bf16, as llama.cpp converts activations for bf16 weights.</summary>
    void RoundToBFloat16(in BackendTensor x);

    /// <summary>Rotates the heads of <paramref name="tokens"/> rows in place, row t at position startPosition + t.</summary>
    void Rope(in BackendTensor x, int tokens, int heads, int headDim, int startPosition, RopeTable table);

    /// <summary>
    /// Causal (grouped-query) attention for every sequence of a batch (a decode step of many sessions): sequence s reads
    /// rows [FirstRow, FirstRow + Tokens) of <paramref name="queries"/> (rows of QueryWidth floats), its keys and values
    /// ((StartPosition + Tokens) x KvWidth), and writes the same rows of <paramref name="output"/>.
    /// </summary>
    void AttentionBatch(in BackendTensor queries, ReadOnlySpan<AttentionSequence> sequences, in BackendTensor output);
}
