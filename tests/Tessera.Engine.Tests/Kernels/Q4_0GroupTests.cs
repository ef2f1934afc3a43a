using Tessera.Engine.Backends;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Kernels;

/// <summary>
/// Q4_0 matrices in eights of rows: regrouped at load (copy) or read row by row (memory map), every path gives the
/// same bits, and they are llama.cpp's: per row, exact block sums into one fused multiply-add per block.
/// </summary>
public sealed unsafe class Q4_0GroupTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(7)]
    [InlineData(17)]
    public void RegroupedAndRowByRow_GiveTheSameBits_OnEveryPath(int tokens)
    {
        const int rows = 40, cols = 320;
        using var m = new KernelTestData.Matrix(GgmlType.Q4_0, rows, cols, seed: 21);
        using var arena = new WeightArena(WeightArena.Footprint(m.Weights));
        var grouped = arena.Copy(m.Weights);
        Assert.Equal(WeightLayout.Q4_0Groups, grouped.Layout);
        var x = KernelTestData.Random(tokens * cols, seed: 8);

        var expected = Reference(m.Weights, x, tokens);
        foreach (var path in new[] { KernelPath.Scalar, KernelPath.Avx2, KernelPath.Avx512 })
        {
            if (!KernelPaths.IsSupported(path))
                continue;
            using var backend = new CpuBackend(2, path);
            var yRows = new float[tokens * rows];
            var yGroups = new float[tokens * rows];
            backend.MatMul(m.Weights, x, yRows, tokens);
            backend.MatMul(grouped, x, yGroups, tokens);
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(yRows[i]));
                Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(yGroups[i]));
            }
        }
    }

    [Fact]
    public void RowsNotInEights_StayInTheFileLayout()
    {
        using var m = new KernelTestData.Matrix(GgmlType.Q4_0, 37, 64, seed: 2);
        using var arena = new WeightArena(WeightArena.Footprint(m.Weights));
        Assert.Equal(WeightLayout.Rows, arena.Copy(m.Weights).Layout);
    }

    /// <summary>llama.cpp's arithmetic written out: quantize each token to Q8_0, then per row and block.</summary>
    private static float[] Reference(WeightMatrix w, float[] x, int tokens)
    {
        var cols = w.Cols;
        var stride = ActivationQuant.Q8_0Stride(cols);
        var act = new byte[stride * tokens];
        var y = new float[tokens * w.Rows];
        fixed (float* xp = x)
        fixed (byte* ap = act)
        {
            for (var t = 0; t < tokens; t++)
            {
                var token = ap + t * stride;
                ActivationQuant.QuantizeQ8_0Scalar(xp + t * cols, cols, token);
                var qs = ActivationQuant.Q8_0Qs(token);
                var da = ActivationQuant.Q8_0D(token, cols);
                for (var r = 0; r < w.Rows; r++)
                {
                    var row = (byte*)w.RowPointer(r);
                    float acc = 0;
                    for (var b = 0; b < cols / 32; b++)
                    {
                        var block = row + 18 * b;
                        var isum = 0;
                        for (var j = 0; j < 16; j++)
                            isum += ((block[2 + j] & 0xF) - 8) * qs[32 * b + j] + ((block[2 + j] >> 4) - 8) * qs[32 * b + 16 + j];
                        acc = MathF.FusedMultiplyAdd(isum, (float)BitConverter.UInt16BitsToHalf(*(ushort*)block) * da[b], acc);
                    }
                    y[t * w.Rows + r] = acc;
                }
            }
        }
        return y;
    }
}
