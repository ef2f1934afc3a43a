using ILGPU;

namespace Tessera.Engine.Gpu;

/// <summary>
/// One weight type's arithmetic for <see cref="GpuKernels.MatMulTiles{TRows}"/>: a lane's share of one row's dot
/// product with one token's activations. Implemented by structs, so each type compiles to its own kernel.
/// </summary>
internal interface IRowDots
{
    /// <summary>Lane <paramref name="lane"/>'s share (of 32) of row <paramref name="row"/> times token <paramref name="token"/>.</summary>
    float Partial(int row, int token, int lane);
}

/// <summary>
/// Q8_0 or Q4_0 weights (<see cref="Kind"/>) against Q8_0 activations: lanes take the row's blocks in turn; each block
/// is an exact integer sum and one fused multiply-add, as the CPU engine computes it.
/// </summary>
internal struct QuantRows : IRowDots
{
    public ArrayView<byte> Weights;
    public ArrayView<sbyte> Quants;
    public ArrayView<float> Scales;
    public int Cols;
    public int Kind;

    public readonly float Partial(int row, int token, int lane)
    {
        var nb = Cols / 32;
        var blockBytes = Kind == GpuKernels.KindQ8_0 ? GpuKernels.Q8_0BlockBytes : GpuKernels.Q4_0BlockBytes;
        var rowStart = (long)row * nb * blockBytes;
        var acc = 0f;
        for (var b = lane; b < nb; b += GpuKernels.Lanes)
        {
            var o = rowStart + (long)b * blockBytes;
            var dw = GpuKernels.HalfToFloat(Weights[o] | (Weights[o + 1] << 8));
            var a = (long)token * Cols + 32 * b;
            var isum = Kind == GpuKernels.KindQ8_0 ? GpuKernels.Q8_0Sum(Weights, o + 2, Quants, a) : GpuKernels.Q4_0Sum(Weights, o + 2, Quants, a);
            acc = MathF.FusedMultiplyAdd(isum, dw * Scales[(long)token * nb + b], acc);
        }
        return acc;
    }
}

/// <summary>F32 weights: lanes take the row's columns in turn.</summary>
internal struct F32Rows : IRowDots
{
    public ArrayView<float> Weights;
    public ArrayView<float> Input;
    public int Cols;

    public readonly float Partial(int row, int token, int lane)
    {
        var acc = 0f;
        for (var k = lane; k < Cols; k += GpuKernels.Lanes)
            acc = MathF.FusedMultiplyAdd(Weights[(long)row * Cols + k], Input[(long)token * Cols + k], acc);
        return acc;
    }
}

/// <summary>F16 weights (their bits): the input rounded to f16 first, as llama.cpp and the CPU engine do.</summary>
internal struct F16Rows : IRowDots
{
    public ArrayView<ushort> Weights;
    public ArrayView<float> Input;
    public int Cols;

    public readonly float Partial(int row, int token, int lane)
    {
        var acc = 0f;
        for (var k = lane; k < Cols; k += GpuKernels.Lanes)
            acc = MathF.FusedMultiplyAdd(GpuKernels.HalfToFloat(Weights[(long)row * Cols + k]), GpuKernels.RoundToHalf(Input[(long)token * Cols + k]), acc);
        return acc;
    }
}

/// <summary>
/// The types without a product of their own yet (Q4_1, Q5_0, Q5_1, IQ4_NL, the K-quants, IQ4_XS, BF16): each weight dequantized where it is
/// read (<see cref="GpuKernels.WeightAt"/>) against activations already rounded as the CPU engine's kernels round
/// them (<see cref="Effective"/>: Q8_0 or Q8_K values, or the input itself for BF16). A reference: it decodes a
/// block's scales for every value, and agrees with the CPU's integer sums to float rounding.
/// </summary>
internal struct DequantRows : IRowDots
{
    public ArrayView<byte> Weights;
    public ArrayView<float> Effective;
    public int Cols;
    public int RowBytes;
    public int Type;

    public readonly float Partial(int row, int token, int lane)
    {
        var rowStart = (long)row * RowBytes;
        var acc = 0f;
        for (var k = lane; k < Cols; k += GpuKernels.Lanes)
            acc = MathF.FusedMultiplyAdd(GpuKernels.WeightAt(Weights, rowStart, k, Type), Effective[(long)token * Cols + k], acc);
        return acc;
    }
}
