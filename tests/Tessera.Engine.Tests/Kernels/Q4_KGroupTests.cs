using Tessera.Engine.Backends;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Kernels;

/// <summary>
/// Q4_K matrices in eights of rows: regrouped at load (copy) or read row by row (memory map), every path and every
/// form (one token, a batch, the one-row kernel and its tiles) gives each (row, token) the same bits.
/// </summary>
public sealed unsafe class Q4_KGroupTests
{
    [Theory]
    [InlineData(1, 40, 512)]
    [InlineData(2, 40, 512)]
    [InlineData(4, 40, 512)]
    [InlineData(7, 40, 512)]
    [InlineData(17, 40, 512)]
    // Several token passes (16), more than one job of rows.
    [InlineData(33, 136, 1280)]
    public void RegroupedAndRowByRow_GiveTheSameBits_OnEveryPath(int tokens, int rows, int cols) =>
        RegroupCheck.RegroupedAndRowByRow_GiveTheReferenceBits(GgmlType.Q4_K, WeightLayout.Q4_KGroups, tokens, rows, cols, Reference);

    /// <summary>The kernels called directly: the batched one for any token count, and one token, against the grouped scalar reference.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    [InlineData(19)]
    public void GroupedKernels_EqualTheScalarReference(int tokens)
    {
        const int rows = 80, cols = 768;
        using var m = new KernelTestData.Matrix(GgmlType.Q4_K, rows, cols, seed: 5);
        using var arena = new WeightArena(WeightArena.Footprint(m.Weights));
        var w = arena.Copy(m.Weights);
        var groupBytes = (nint)w.RowBytes * Q4_KRows8.Rows;
        using var act = new KernelTestData.Q8KTokens(tokens, cols, seed: 6);
        var expected = new float[tokens * rows];
        var y = new float[tokens * rows];
        var one = new float[tokens * rows];
        var data = (byte*)w.Data;
        fixed (float* ep = expected)
        fixed (float* yp = y)
        fixed (float* op = one)
        {
            for (var t = 0; t < tokens; t++)
            {
                for (var g = 0; g < rows / 8; g++)
                {
                    Q4_KRows8.ScalarGemv8(data + g * groupBytes, act.Data + t * act.Stride, cols, ep + t * rows + 8 * g);
                    Q4_KRows8.Gemv8(data + g * groupBytes, act.Data + t * act.Stride, cols, op + t * rows + 8 * g);
                }
            }
            Q4_KRows8.GemmN(data, groupBytes, rows / 8, act.Data, act.Stride, tokens, cols, yp, rows);
        }
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(one[i]), $"one token [{i}]: {one[i]} vs {expected[i]}");
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(y[i]), $"batched [{i}]: {y[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void RowsNotInEights_StayInTheFileLayout()
    {
        using var m = new KernelTestData.Matrix(GgmlType.Q4_K, 37, 256, seed: 2);
        using var arena = new WeightArena(WeightArena.Footprint(m.Weights));
        Assert.Equal(WeightLayout.Rows, arena.Copy(m.Weights).Layout);
    }

    /// <summary>
    /// The arithmetic written out from the file's layout: per row and super-block the exact integer sums of the scaled
    /// products and of the mins' products, two fused multiply-adds, the difference at the end.
    /// </summary>
    private static float[] Reference(WeightMatrix w, float[] x, int tokens)
    {
        var cols = w.Cols;
        var stride = ActivationQuant.Q8_KStride(cols);
        var act = new byte[stride * tokens];
        var y = new float[tokens * w.Rows];
        fixed (float* xp = x)
        fixed (byte* ap = act)
        {
            for (var t = 0; t < tokens; t++)
            {
                var token = ap + t * stride;
                ActivationQuant.QuantizeQ8_K(xp + t * cols, cols, token);
                var qs = ActivationQuant.Q8_KQs(token);
                var xd = ActivationQuant.Q8_KD(token, cols);
                var bsums = ActivationQuant.Q8_KBsums(token, cols);
                for (var r = 0; r < w.Rows; r++)
                {
                    var row = (byte*)w.RowPointer(r);
                    float acc = 0, mins = 0;
                    for (var sb = 0; sb < cols / 256; sb++)
                    {
                        var block = row + 144 * sb;
                        int isum = 0, imin = 0;
                        for (var j = 0; j < 8; j++)
                        {
                            ReferenceQuant.ScaleMinK4(j, new ReadOnlySpan<byte>(block + 4, 12), out var sc, out var mn);
                            var part = 0;
                            for (var l = 0; l < 32; l++)
                                part += ((block[16 + 32 * (j / 2) + l] >> (4 * (j & 1))) & 0xF) * qs[256 * sb + 32 * j + l];
                            isum += sc * part;
                            imin += mn * (bsums[16 * sb + 2 * j] + bsums[16 * sb + 2 * j + 1]);
                        }
                        acc = MathF.FusedMultiplyAdd(isum, (float)BitConverter.UInt16BitsToHalf(*(ushort*)block) * xd[sb], acc);
                        mins = MathF.FusedMultiplyAdd(imin, (float)BitConverter.UInt16BitsToHalf(*(ushort*)(block + 2)) * xd[sb], mins);
                    }
                    y[t * w.Rows + r] = acc - mins;
                }
            }
        }
        return y;
    }
}
