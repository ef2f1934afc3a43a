using System.Runtime.Intrinsics.X86;
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
    [InlineData(1, 40, 320)]
    [InlineData(2, 40, 320)]
    [InlineData(3, 40, 320)]
    [InlineData(4, 40, 320)]
    [InlineData(7, 40, 320)]
    [InlineData(8, 40, 320)]
    [InlineData(17, 40, 320)]
    // Batched kernel: more groups than one pass holds (8), several column tiles (32 blocks), odd and full token blocks.
    [InlineData(8, 136, 1088)]
    [InlineData(9, 136, 1088)]
    [InlineData(33, 136, 1088)]
    public void RegroupedAndRowByRow_GiveTheSameBits_OnEveryPath(int tokens, int rows, int cols)
    {
        RegroupCheck.RegroupedAndRowByRow_GiveTheReferenceBits(GgmlType.Q4_0, WeightLayout.Q4_0Groups, tokens, rows, cols, Reference);
        // IQ4_NL has Q4_0's block bytes and is regrouped the same way (IQ4NLRows8).
        RegroupCheck.RegroupedAndRowByRow_GiveTheReferenceBits(GgmlType.IQ4_NL, WeightLayout.IQ4_NLGroups, tokens, rows, cols, Reference);
    }

    /// <summary>
    /// Every batched kernel, called directly, against the one-token reference kernel: both integer-sum forms (AVX2 and
    /// AVX-VNNI, whichever this CPU runs) and the 512-bit pair kernel, for any token count, bit for bit.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(16)]
    [InlineData(19)]
    public void BatchedKernels_EqualTheOneTokenReference(int tokens)
    {
        const int rows = 80, cols = 1120; // ten groups, 35 blocks: two column tiles, a ragged one
        using var m = new KernelTestData.Matrix(GgmlType.Q4_0, rows, cols, seed: 5);
        using var arena = new WeightArena(WeightArena.Footprint(m.Weights));
        var w = arena.Copy(m.Weights);
        var groupBytes = (nint)w.RowBytes * Q4_0Rows8.Rows;
        var x = KernelTestData.Random(tokens * cols, seed: 6);
        var stride = ActivationQuant.Q8_0Stride(cols);
        var act = new byte[stride * tokens];
        var pairs = new byte[ActivationPairs.Stride(cols) * ((tokens + 1) / 2)];
        var expected = new float[tokens * rows];
        fixed (float* xp = x)
        fixed (byte* ap = act)
        fixed (byte* pp = pairs)
        fixed (float* ep = expected)
        {
            for (var t = 0; t < tokens; t++)
                ActivationQuant.QuantizeQ8_0(xp + t * cols, cols, ap + t * stride);
            ActivationPairs.Pack(ap, stride, tokens, cols, pp);
            for (var t = 0; t < tokens; t++)
            {
                for (var g = 0; g < rows / 8; g++)
                    Q4_0Rows8.ScalarGemv8((byte*)w.Data + g * groupBytes, ap + t * stride, cols, ep + t * rows + 8 * g);
            }

            var data = (byte*)w.Data;
            var y = new float[tokens * rows];
            fixed (float* yp = y)
            {
                if (Avx2.IsSupported && Fma.IsSupported)
                {
                    for (var g = 0; g < rows / 8; g++)
                        Q4_0Rows8.GemmN<Q4_0Rows8.MaddSums>(data + g * groupBytes, ap, stride, tokens, cols, yp + 8 * g, rows);
                    AssertSameBits(expected, y, "AVX2");
                }
                if (AvxVnni.IsSupported)
                {
                    for (var g = 0; g < rows / 8; g++)
                        Q4_0Rows8.GemmN<Q4_0Rows8.VnniSums>(data + g * groupBytes, ap, stride, tokens, cols, yp + 8 * g, rows);
                    AssertSameBits(expected, y, "AVX-VNNI");
                }
                if (tokens <= Q4_0Rows8.FewTokens && Avx2.IsSupported && Fma.IsSupported)
                {
                    // A few sessions decoding together: the streaming kernel, both integer-sum forms.
                    for (var g = 0; g < rows / 8; g++)
                        Q4_0Rows8.GemvFew<Q4_0Rows8.MaddSums>(data + g * groupBytes, ap, stride, tokens, cols, yp + 8 * g, rows);
                    AssertSameBits(expected, y, "AVX2, few tokens");
                    if (AvxVnni.IsSupported)
                    {
                        for (var g = 0; g < rows / 8; g++)
                            Q4_0Rows8.GemvFew<Q4_0Rows8.VnniSums>(data + g * groupBytes, ap, stride, tokens, cols, yp + 8 * g, rows);
                        AssertSameBits(expected, y, "AVX-VNNI, few tokens");
                    }
                }
                if (KernelPaths.IsSupported(KernelPath.Avx512))
                {
                    Q4_0Rows8Pairs.Gemm(data, groupBytes, rows / 8, pp, ActivationPairs.Stride(cols), tokens, cols, yp, rows);
                    AssertSameBits(expected, y, "AVX-512 pairs");
                }
            }
        }
    }

    /// <summary>The IQ4_NL group kernels, called directly (one token, a few, many, tiles over groups), against the scalar reference.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(16)]
    [InlineData(19)]
    [InlineData(40)]
    public void IQ4NLKernels_EqualTheOneTokenReference(int tokens)
    {
        const int rows = 80, cols = 1120; // ten groups (more than one pass holds), 35 blocks: two column tiles, a ragged one
        using var m = new KernelTestData.Matrix(GgmlType.IQ4_NL, rows, cols, seed: 15);
        using var arena = new WeightArena(WeightArena.Footprint(m.Weights));
        var w = arena.Copy(m.Weights);
        var groupBytes = (nint)w.RowBytes * IQ4NLRows8.Rows;
        var x = KernelTestData.Random(tokens * cols, seed: 16);
        var stride = ActivationQuant.Q8_0Stride(cols);
        var act = new byte[stride * tokens];
        var expected = new float[tokens * rows];
        var y = new float[tokens * rows];
        fixed (float* xp = x)
        fixed (byte* ap = act)
        fixed (float* ep = expected)
        fixed (float* yp = y)
        {
            var data = (byte*)w.Data;
            for (var t = 0; t < tokens; t++)
            {
                ActivationQuant.QuantizeQ8_0(xp + t * cols, cols, ap + t * stride);
                for (var g = 0; g < rows / 8; g++)
                    IQ4NLRows8.ScalarGemv8(data + g * groupBytes, ap + t * stride, cols, ep + t * rows + 8 * g);
            }
            for (var t = 0; t < tokens; t++)
            {
                for (var r = 0; r < rows; r++)
                    yp[t * rows + r] = IQ4NLRows8.RowDot((byte*)m.Weights.RowPointer(r), ap + t * stride, cols);
            }
            AssertSameBits(expected, y, "row by row");
            if (!Avx2.IsSupported || !Fma.IsSupported)
                return;
            for (var t = 0; t < tokens; t++)
            {
                for (var g = 0; g < rows / 8; g++)
                    IQ4NLRows8.Gemv8(data + g * groupBytes, ap + t * stride, cols, yp + t * rows + 8 * g);
            }
            AssertSameBits(expected, y, "one token");
            IQ4NLRows8.GemvFew(data, groupBytes, rows / 8, ap, stride, tokens, cols, yp, rows);
            AssertSameBits(expected, y, "a few tokens");
            IQ4NLRows8.Gemm(data, groupBytes, rows / 8, ap, stride, tokens, cols, yp, rows);
            AssertSameBits(expected, y, "many tokens");
        }
    }

    private static void AssertSameBits(float[] expected, float[] actual, string kernel)
    {
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{kernel}: output {i} is {actual[i]}, not {expected[i]}");
        }
        Array.Clear(actual);
    }

    [Fact]
    public void RowsNotInEights_StayInTheFileLayout()
    {
        using var m = new KernelTestData.Matrix(GgmlType.Q4_0, 37, 64, seed: 2);
        using var arena = new WeightArena(WeightArena.Footprint(m.Weights));
        Assert.Equal(WeightLayout.Rows, arena.Copy(m.Weights).Layout);
    }

    /// <summary>The value of a nibble: Q4_0's offset by 8, IQ4_NL's an index into ggml's 16 levels.</summary>
    private static int Level(GgmlType type, int nibble) => type == GgmlType.Q4_0 ? nibble - 8 : ReferenceQuant.IQ4NLValues[nibble];

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
                            isum += Level(w.Type, block[2 + j] & 0xF) * qs[32 * b + j] + Level(w.Type, block[2 + j] >> 4) * qs[32 * b + 16 + j];
                        acc = MathF.FusedMultiplyAdd(isum, (float)BitConverter.UInt16BitsToHalf(*(ushort*)block) * da[b], acc);
                    }
                    y[t * w.Rows + r] = acc;
                }
            }
        }
        return y;
    }
}
