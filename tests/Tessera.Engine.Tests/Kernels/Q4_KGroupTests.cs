using Tessera.Engine.Backends;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Kernels;

/// <summary>
/// Q4_K matrices in eights of rows: regrouped at load (copy) or read row by row (memory map), every path and every
/// form (one token, a batch, the one-row kernel and its tiles) gives each (row, token) the one-row kernel's bits.
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

    /// <summary>The kernels called directly: the batched one for any token count, and one token, against the grouped scalar form and the one-row kernel.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    [InlineData(19)]
    public void GroupedKernels_EqualTheScalarReference(int tokens)
    {
        const int rows = 88, cols = 768; // eleven groups: five pairs for the 512-bit kernel and one alone
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
        var y512 = new float[tokens * rows];
        fixed (float* zp = y512)
            Q4_KRows8.GemmN512(data, groupBytes, rows / 8, act.Data, act.Stride, tokens, cols, zp, rows); // GemmN where AVX-512 is missing
        for (var i = 0; i < expected.Length; i++)
        {
            var row = KQuantDot.Q4KScalar(m.Data + (i % rows) * w.RowBytes, act.Data + i / rows * act.Stride, cols);
            Assert.True(BitConverter.SingleToInt32Bits(row) == BitConverter.SingleToInt32Bits(expected[i]), $"grouped scalar [{i}]: {expected[i]} vs {row}");
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(one[i]), $"one token [{i}]: {one[i]} vs {expected[i]}");
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(y[i]), $"batched [{i}]: {y[i]} vs {expected[i]}");
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(y512[i]), $"batched 512 [{i}]: {y512[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void RowsNotInEights_StayInTheFileLayout()
    {
        using var m = new KernelTestData.Matrix(GgmlType.Q4_K, 37, 256, seed: 2);
        using var arena = new WeightArena(WeightArena.Footprint(m.Weights));
        Assert.Equal(WeightLayout.Rows, arena.Copy(m.Weights).Layout);
    }

    /// <summary>The one-row scalar kernel on the file's rows (llama.cpp's order, checked against it elsewhere).</summary>
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
                ActivationQuant.QuantizeQ8_K(xp + t * cols, cols, ap + t * stride);
                for (var r = 0; r < w.Rows; r++)
                    y[t * w.Rows + r] = KQuantDot.Q4KScalar((byte*)w.RowPointer(r), ap + t * stride, cols);
            }
        }
        return y;
    }
}
