using Tessera.Engine.Tensors;

namespace Tessera.Engine.Kernels;

/// <summary>How a weight type wants its activations.</summary>
internal enum ActivationFormat
{
    /// <summary>Float activations as given.</summary>
    F32,

    /// <summary>Q8_0 layout of <see cref="ActivationQuant"/> (32-value blocks).</summary>
    Q8_0,

    /// <summary>Q8_K layout of <see cref="ActivationQuant"/> (256-value super-blocks).</summary>
    Q8_K,

    /// <summary>F16 layout of <see cref="ActivationQuant"/>: values rounded to f16, as f32 and as f16.</summary>
    F16,

    /// <summary>Q8_0 of two tokens interleaved (<see cref="ActivationPairs"/>), built from <see cref="Q8_0"/>.</summary>
    Q8_0Pairs,
}

/// <summary>
/// The dot-product kernels of one weight type on one path: <see cref="Dot"/> computes one (row, token) pair,
/// <see cref="Dot4"/> one row against four tokens (the weight row is unpacked once). Both give bit-identical results
/// for the same (row, token).
/// </summary>
internal readonly unsafe struct MatMulKernel
{
    public MatMulKernel(ActivationFormat format, delegate*<byte*, byte*, int, float> dot, delegate*<byte*, byte*, nint, int, float*, nint, void> dot4,
        delegate*<byte*, nint, byte*, nint, int, float*, nint, void> dot2x4 = null, delegate*<byte*, nint, byte*, nint, int, float*, nint, void> dot4x4 = null)
    {
        Format = format;
        BatchFormat = format;
        Dot = dot;
        Dot4 = dot4;
        Dot2x4 = dot2x4;
        Dot4x4 = dot4x4;
    }

    /// <summary>
    /// Kernels for matrices regrouped eight rows at a time: only <see cref="Rows8"/> and <see cref="Rows8xN"/> apply;
    /// <see cref="Rows8xN"/> reads its activations in <paramref name="batchFormat"/>.
    /// </summary>
    public MatMulKernel(ActivationFormat format, delegate*<byte*, byte*, int, float*, void> rows8, delegate*<byte*, nint, int, byte*, nint, int, int, float*, nint, void> rows8xN,
        ActivationFormat batchFormat, delegate*<byte*, nint, int, byte*, nint, int, int, float*, nint, void> rows8Few = null)
    {
        Format = format;
        Rows8 = rows8;
        Rows8xN = rows8xN;
        BatchFormat = batchFormat;
        Rows8Few = rows8Few;
    }

    /// <summary>
    /// Optional, for grouped layouts: groups of eight rows against 2 to <see cref="Q4_0Rows8.FewTokens"/> tokens in
    /// <see cref="Format"/> (arguments as <see cref="Rows8xN"/>), streaming each group as one token's product does.
    /// </summary>
    public delegate*<byte*, nint, int, byte*, nint, int, int, float*, nint, void> Rows8Few { get; }

    /// <summary>True when a product with <paramref name="tokens"/> tokens runs <see cref="Rows8Few"/>.</summary>
    public bool UsesFew(int tokens) => Rows8Few != null && tokens is > 1 and <= Q4_0Rows8.FewTokens;

    /// <summary>The activations a product with <paramref name="tokens"/> tokens reads.</summary>
    public ActivationFormat FormatFor(int tokens) => tokens == 1 || UsesFew(tokens) ? Format : BatchFormat;

    /// <summary>
    /// The activations of products with more than one token: <see cref="Format"/>, or for the 512-bit batched Q4_0
    /// kernel <see cref="ActivationFormat.Q8_0Pairs"/> (then <see cref="Rows8xN"/> takes the first pair and the stride
    /// between pairs, and runs every multi-token product, an odd last token included).
    /// </summary>
    public ActivationFormat BatchFormat { get; }

    /// <summary>Set for grouped layouts: eight rows (group pointer, token, cols, y of the first row) against one token.</summary>
    public delegate*<byte*, byte*, int, float*, void> Rows8 { get; }

    /// <summary>
    /// Set for grouped layouts: groups of eight rows against any number of tokens (first group, bytes between groups,
    /// groups, first token, token stride, tokens, cols, y of the first row, y stride), each weight block read once for
    /// all of them (batched decode, prefill tiles).
    /// </summary>
    public delegate*<byte*, nint, int, byte*, nint, int, int, float*, nint, void> Rows8xN { get; }

    public ActivationFormat Format { get; }

    /// <summary>(weight row, activation token, cols) -> y.</summary>
    public delegate*<byte*, byte*, int, float> Dot { get; }

    /// <summary>(weight row, first activation token, token stride in bytes, cols, y of the first token, y stride in floats).</summary>
    public delegate*<byte*, byte*, nint, int, float*, nint, void> Dot4 { get; }

    /// <summary>
    /// Optional: two consecutive rows against four tokens (first row, row bytes, first token, token stride, cols, y of the
    /// first row and token, y stride), bit-identical to two <see cref="Dot4"/> calls.
    /// </summary>
    public delegate*<byte*, nint, byte*, nint, int, float*, nint, void> Dot2x4 { get; }

    /// <summary>Optional: four consecutive rows against four tokens (arguments as <see cref="Dot2x4"/>), bit-identical to four <see cref="Dot4"/> calls.</summary>
    public delegate*<byte*, nint, byte*, nint, int, float*, nint, void> Dot4x4 { get; }

    /// <summary>
    /// The kernels for matrix <paramref name="w"/> on <paramref name="path"/>: by its type, except Q4_0 in eights of rows,
    /// which llama.cpp multiplies block sum by block sum (<see cref="Q4_0Rows8"/>): regrouped when copied, row by row
    /// when read from the memory map, the same results either way.
    /// </summary>
    public static MatMulKernel For(in WeightMatrix w, KernelPath path)
    {
        if (w.Layout == WeightLayout.Q4_0Groups)
        {
            return path switch
            {
                KernelPath.Scalar => new(ActivationFormat.Q8_0, &Q4_0Rows8.ScalarGemv8, &Q4_0Rows8.ScalarGemmN, ActivationFormat.Q8_0),
                KernelPath.Avx2 => new(ActivationFormat.Q8_0, &Q4_0Rows8.Gemv8, &Q4_0Rows8.GemmN, ActivationFormat.Q8_0, &Q4_0Rows8.GemvFew),
                _ => new(ActivationFormat.Q8_0, &Q4_0Rows8.Gemv8, &Q4_0Rows8Pairs.Gemm, ActivationFormat.Q8_0Pairs, &Q4_0Rows8.GemvFew),
            };
        }
        if (w.Layout == WeightLayout.Q4_KGroups)
        {
            return path switch
            {
                KernelPath.Scalar => new(ActivationFormat.Q8_K, &Q4_KRows8.ScalarGemv8, &Q4_KRows8.ScalarGemmN, ActivationFormat.Q8_K),
                KernelPath.Avx2 => new(ActivationFormat.Q8_K, &Q4_KRows8.Gemv8, &Q4_KRows8.GemmN, ActivationFormat.Q8_K),
                _ => new(ActivationFormat.Q8_K, &Q4_KRows8.Gemv8, &Q4_KRows8.GemmN512, ActivationFormat.Q8_K),
            };
        }
        if (w.Type == GgmlType.Q4_0 && w.Rows % Q4_0Rows8.Rows == 0)
            return new(ActivationFormat.Q8_0, &Q4_0Rows8.RowDot, &Q4_0Rows8.RowDot4);
        // IQ4_NL likewise (IQ4NLRows8): a sign per level on the activations, otherwise Q4_0's design.
        if (w.Layout == WeightLayout.IQ4_NLGroups)
        {
            return path == KernelPath.Scalar
                ? new(ActivationFormat.Q8_0, &IQ4NLRows8.ScalarGemv8, &IQ4NLRows8.ScalarGemmN, ActivationFormat.Q8_0)
                : new(ActivationFormat.Q8_0, &IQ4NLRows8.Gemv8, &IQ4NLRows8.Gemm, ActivationFormat.Q8_0, &IQ4NLRows8.GemvFew);
        }
        if (w.Type == GgmlType.IQ4_NL && w.Rows % IQ4NLRows8.Rows == 0)
            return new(ActivationFormat.Q8_0, &IQ4NLRows8.RowDot, &IQ4NLRows8.RowDot4);
        // One-token F16 products are bound by widening f16 to float. Activations of up to 4096 inputs (16 KiB as floats)
        // stay in L1 beside the streaming weights, so they are read as floats and only the weights are widened (1.7x the
        // compute ceiling); longer rows read them as f16 to halve their footprint. Same products, same order, same bits.
        if (w.Type == GgmlType.F16 && path == KernelPath.Avx512 && w.Cols <= 4096)
            return new(ActivationFormat.F16, &FloatDot<F16Weights>.Avx512Dot, &FloatDot<F16Weights>.Avx512Dot4, &FloatDot<F16Weights>.Avx512Dot2x4);
        return For(w.Type, path);
    }

    /// <summary>The kernels for <paramref name="type"/> on <paramref name="path"/> (a resolved path) for matrices in the file's row layout.</summary>
    public static MatMulKernel For(GgmlType type, KernelPath path) => (type, path) switch
    {
        (GgmlType.F32, KernelPath.Scalar) => new(ActivationFormat.F32, &FloatDot<F32Weights>.Scalar, &FloatDot<F32Weights>.Scalar4),
        (GgmlType.F32, KernelPath.Avx2) => new(ActivationFormat.F32, &FloatDot<F32Weights>.Avx2Dot, &FloatDot<F32Weights>.Avx2Dot4),
        (GgmlType.F32, KernelPath.Avx512) => new(ActivationFormat.F32, &FloatDot<F32Weights>.Avx512Dot, &FloatDot<F32Weights>.Avx512Dot4, &FloatDot<F32Weights>.Avx512Dot2x4),
        (GgmlType.F16, KernelPath.Scalar) => new(ActivationFormat.F16, &FloatDot<F16Weights>.Scalar, &FloatDot<F16Weights>.Scalar4),
        (GgmlType.F16, KernelPath.Avx2) => new(ActivationFormat.F16, &FloatDot<F16Weights>.Avx2Dot, &FloatDot<F16Weights>.Avx2Dot4),
        (GgmlType.F16, KernelPath.Avx512) => new(ActivationFormat.F16, &FloatDot<F16Weights>.Avx512DotHalves, &FloatDot<F16Weights>.Avx512Dot4, &FloatDot<F16Weights>.Avx512Dot2x4),
        (GgmlType.BF16, KernelPath.Scalar) => new(ActivationFormat.F32, &FloatDot<BF16Weights>.Scalar, &FloatDot<BF16Weights>.Scalar4),
        (GgmlType.BF16, KernelPath.Avx2) => new(ActivationFormat.F32, &FloatDot<BF16Weights>.Avx2Dot, &FloatDot<BF16Weights>.Avx2Dot4),
        (GgmlType.BF16, KernelPath.Avx512) => new(ActivationFormat.F32, &FloatDot<BF16Weights>.Avx512Dot, &FloatDot<BF16Weights>.Avx512Dot4, &FloatDot<BF16Weights>.Avx512Dot2x4),

        (GgmlType.Q8_0, KernelPath.Scalar) => new(ActivationFormat.Q8_0, &BlockDot<Q8_0Block>.Scalar, &BlockDot<Q8_0Block>.Scalar4),
        (GgmlType.Q8_0, KernelPath.Avx2) => new(ActivationFormat.Q8_0, &BlockDot<Q8_0Block>.Avx2Dot, &BlockDot<Q8_0Block>.Avx2Dot4, &BlockDot<Q8_0Block>.Avx2Dot2x4),
        (GgmlType.Q8_0, KernelPath.Avx512) => new(ActivationFormat.Q8_0, &BlockDot<Q8_0Block>.Avx512Dot, &BlockDot<Q8_0Block>.Avx512Dot4, &BlockDot<Q8_0Block>.Avx2Dot2x4, &BlockDot<Q8_0Block>.Avx512Dot4x4),
        (GgmlType.Q4_0, KernelPath.Scalar) => new(ActivationFormat.Q8_0, &BlockDot<Q4_0Block>.Scalar, &BlockDot<Q4_0Block>.Scalar4),
        // Rows not in eights: llama.cpp's plain Q4_0 dot product, in the order BlockDot shares with Q8_0.
        (GgmlType.Q4_0, KernelPath.Avx2) => new(ActivationFormat.Q8_0, &BlockDot<Q4_0Block>.Avx2Dot, &BlockDot<Q4_0Block>.Avx2Dot4, &BlockDot<Q4_0Block>.Avx2Dot2x4),
        (GgmlType.Q4_0, KernelPath.Avx512) => new(ActivationFormat.Q8_0, &BlockDot<Q4_0Block>.Avx512Dot, &BlockDot<Q4_0Block>.Avx512Dot4, &BlockDot<Q4_0Block>.Avx2Dot2x4),
        (GgmlType.Q5_0, KernelPath.Scalar) => new(ActivationFormat.Q8_0, &BlockDot<Q5_0Block>.Scalar, &BlockDot<Q5_0Block>.Scalar4),
        (GgmlType.Q5_0, KernelPath.Avx2) => new(ActivationFormat.Q8_0, &BlockDot<Q5_0Block>.Avx2Dot, &BlockDot<Q5_0Block>.Avx2Dot4, &BlockDot<Q5_0Block>.Avx2Dot2x4),
        (GgmlType.Q5_0, KernelPath.Avx512) => new(ActivationFormat.Q8_0, &BlockDot<Q5_0Block>.Avx512Dot, &BlockDot<Q5_0Block>.Avx512Dot4, &BlockDot<Q5_0Block>.Avx2Dot2x4, &BlockDot<Q5_0Block>.Avx512Dot4x4),

        (GgmlType.Q4_1, KernelPath.Scalar) => new(ActivationFormat.Q8_0, &MinBlockDot<Q4_0Block>.Scalar, &MinBlockDot<Q4_0Block>.Scalar4),
        (GgmlType.Q4_1, _) => new(ActivationFormat.Q8_0, &MinBlockDot<Q4_0Block>.Avx2Dot, &MinBlockDot<Q4_0Block>.Avx2Dot4),
        (GgmlType.Q5_1, KernelPath.Scalar) => new(ActivationFormat.Q8_0, &MinBlockDot<Q5_0Block>.Scalar, &MinBlockDot<Q5_0Block>.Scalar4),
        (GgmlType.Q5_1, _) => new(ActivationFormat.Q8_0, &MinBlockDot<Q5_0Block>.Avx2Dot, &MinBlockDot<Q5_0Block>.Avx2Dot4),

        (GgmlType.IQ4_NL, KernelPath.Scalar) => new(ActivationFormat.Q8_0, &IQ4NLDot.Scalar, &IQ4NLDot.Scalar4),
        (GgmlType.IQ4_NL, KernelPath.Avx2) => new(ActivationFormat.Q8_0, &IQ4NLDot.Avx2Dot, &IQ4NLDot.Avx2Dot4),
        (GgmlType.IQ4_NL, _) => new(ActivationFormat.Q8_0, &IQ4NLDot.Avx2Dot, &IQ4NLDot.Avx2Dot4, &IQ4NLDot.Avx512Dot2x4),

        (GgmlType.Q2_K, KernelPath.Scalar) => new(ActivationFormat.Q8_K, &KBlockDot<Q2KBlock>.Scalar, &KBlockDot<Q2KBlock>.Scalar4),
        (GgmlType.Q2_K, _) => new(ActivationFormat.Q8_K, &KBlockDot<Q2KBlock>.Avx2Dot, &KBlockDot<Q2KBlock>.Avx2Dot4),
        (GgmlType.Q3_K, KernelPath.Scalar) => new(ActivationFormat.Q8_K, &KBlockDot<Q3KBlock>.Scalar, &KBlockDot<Q3KBlock>.Scalar4),
        (GgmlType.Q3_K, _) => new(ActivationFormat.Q8_K, &KBlockDot<Q3KBlock>.Avx2Dot, &KBlockDot<Q3KBlock>.Avx2Dot4),
        (GgmlType.IQ4_XS, KernelPath.Scalar) => new(ActivationFormat.Q8_K, &KBlockDot<IQ4XSBlock>.Scalar, &KBlockDot<IQ4XSBlock>.Scalar4),
        (GgmlType.IQ4_XS, _) => new(ActivationFormat.Q8_K, &KBlockDot<IQ4XSBlock>.Avx2Dot, &KBlockDot<IQ4XSBlock>.Avx2Dot4),
        (GgmlType.Q4_K, KernelPath.Scalar) => new(ActivationFormat.Q8_K, &KQuantDot.Q4KScalar, &KQuantDot.Q4KScalar4),
        (GgmlType.Q4_K, _) => new(ActivationFormat.Q8_K, &KQuantDot.Q4KAvx2, &KQuantDot.Q4KAvx2x4, &KQuantDot.Q4KAvx2x2x4),
        (GgmlType.Q5_K, KernelPath.Scalar) => new(ActivationFormat.Q8_K, &KQuantDot.Q5KScalar, &KQuantDot.Q5KScalar4),
        (GgmlType.Q5_K, _) => new(ActivationFormat.Q8_K, &KQuantDot.Q5KAvx2, &KQuantDot.Q5KAvx2x4, &KQuantDot.Q5KAvx2x2x4),
        (GgmlType.Q6_K, KernelPath.Scalar) => new(ActivationFormat.Q8_K, &KQuantDot.Q6KScalar, &KQuantDot.Q6KScalar4),
        (GgmlType.Q6_K, _) => new(ActivationFormat.Q8_K, &KQuantDot.Q6KAvx2, &KQuantDot.Q6KAvx2x4),
        _ => throw new NotSupportedException($"Matrix products with {type} weights are not supported."),
    };
}
