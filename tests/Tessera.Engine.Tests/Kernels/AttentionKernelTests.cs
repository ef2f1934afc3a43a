using Tessera.Engine.Backends;

namespace Tessera.Engine.Tests.Kernels;

public class AttentionKernelTests
{
    private static float[] Rand(Random random, int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();

    /// <summary>
    /// A query's output depends only on its position and the cache: alone, inside a batch, over heads in parallel, it is
    /// the same to the bit (what lets a pipeline replay a session's prefix and rebuild the same cache).
    /// </summary>
    [Theory]
    [InlineData(64, 4, 1, 0, 13, 0)]
    [InlineData(64, 8, 2, 5, 70, 0)]
    [InlineData(128, 4, 2, 3, 9, 0)]
    [InlineData(32, 8, 4, 60, 10, 0)]
    [InlineData(80, 2, 1, 2, 6, 0)]
    [InlineData(8, 2, 1, 2, 5, 0)]
    // Prompt rows (llama.cpp's prompt-batch order) and decoded rows in one call.
    [InlineData(64, 4, 1, 0, 13, 9)]
    [InlineData(32, 8, 4, 60, 40, 25)]
    [InlineData(128, 4, 2, 3, 9, 9)]
    [InlineData(80, 2, 1, 2, 6, 4)]
    public void AQuery_GivesTheSameBitsAloneInABatchAndAcrossThreads(int d, int heads, int kvHeads, int start, int tokens, int promptRows)
    {
        var random = new Random(d * 31 + tokens);
        var q = Rand(random, tokens * heads * d);
        var k = Rand(random, (start + tokens) * kvHeads * d);
        var v = Rand(random, (start + tokens) * kvHeads * d);
        var width = heads * d;
        var batch = new float[tokens * width];
        var shape = new AttentionShape(tokens, start, heads, kvHeads, d, 1f / MathF.Sqrt(d)) { PromptRows = promptRows };
        FloatKernels.Attention(q, k, v, batch, shape, 0, heads, new float[start + tokens]);
        var viaBackend = new float[batch.Length];
        using (var backend = new CpuBackend(2))
            backend.Attention(q, k, v, viaBackend, shape);

        for (var t = 0; t < tokens; t++)
        {
            var alone = new float[width];
            var aloneShape = new AttentionShape(1, start + t, heads, kvHeads, d, 1f / MathF.Sqrt(d)) { PromptRows = t < promptRows ? 1 : 0 };
            FloatKernels.Attention(q.AsSpan(t * width, width), k, v, alone, aloneShape, 0, heads, new float[start + t + 1]);
            for (var i = 0; i < width; i++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(batch[t * width + i]), BitConverter.SingleToInt32Bits(alone[i]));
                Assert.Equal(BitConverter.SingleToInt32Bits(batch[t * width + i]), BitConverter.SingleToInt32Bits(viaBackend[t * width + i]));
            }
        }
    }

    [Fact]
    public void GgmlExp_VectorAndScalarFormsAgree_AndStayWithinTwoUlpOfExp()
    {
        var random = new Random(3);
        var inputs = Enumerable.Range(0, 4096).Select(_ => (float)(random.NextDouble() * 200 - 110))
            .Concat([0f, -0f, 1f, -1f, 88.3f, 88.5f, -103.9f, -104.5f, -150f, -1000f, 1000f, float.NegativeInfinity, float.PositiveInfinity]).ToArray();
        for (var i = 0; i + 16 <= inputs.Length; i += 16)
        {
            var vector = GgmlMath.Exp(System.Runtime.Intrinsics.Vector512.Create(inputs.AsSpan(i, 16)));
            for (var l = 0; l < 16; l++)
            {
                var x = inputs[i + l];
                var scalar = GgmlMath.Exp(x);
                Assert.Equal(BitConverter.SingleToInt32Bits(scalar), BitConverter.SingleToInt32Bits(vector[l]));
                var exact = Math.Exp(x);
                if (exact < float.Epsilon || exact > float.MaxValue)
                    continue;
                var ulp = Math.Abs(BitConverter.SingleToInt32Bits(scalar) - BitConverter.SingleToInt32Bits((float)exact));
                Assert.True(ulp <= 2 || exact < 1.2e-38, $"exp({x}) = {scalar}, exact {exact}: {ulp} ulp");
            }
        }
        Assert.Equal(0f, GgmlMath.Exp(float.NegativeInfinity));
        Assert.Equal(float.PositiveInfinity, GgmlMath.Exp(1000f));
    }

    [Fact]
    public void SoftMax_SumsToOne_AndMasksNothingVisible()
    {
        var random = new Random(9);
        foreach (var n in new[] { 1, 5, 16, 17, 33, 64, 100 })
        {
            var row = Rand(random, n).Select(x => x * 5).ToArray();
            var expected = row.Select(x => Math.Exp(x - row.Max())).ToArray();
            var total = expected.Sum();
            FloatKernels.SoftMax(row);
            for (var j = 0; j < n; j++)
                Assert.True(Math.Abs(row[j] - expected[j] / total) <= 1e-6, $"n={n} [{j}]: {row[j]} vs {expected[j] / total}");
        }
    }
}

/// <summary>The attention sums against ggml's <c>ggml_vec_dot_f16</c> (AVX-512) written out one value at a time.</summary>
public class GgmlDotOrderTests
{
    /// <summary>Four accumulators of 16 lanes over each 64 values (fused), (a0 + a2) + (a1 + a3), the reduce-add tree, the tail in double.</summary>
    private static float VecDotF16(float[] x, float[] y)
    {
        var n = x.Length;
        var np = n & ~63;
        double sum = 0;
        if (np > 0)
        {
            var acc = new float[4, 16];
            for (var i = 0; i < np; i += 64)
                for (var a = 0; a < 4; a++)
                    for (var l = 0; l < 16; l++)
                        acc[a, l] = MathF.FusedMultiplyAdd(x[i + 16 * a + l], y[i + 16 * a + l], acc[a, l]);
            var r = new float[16];
            for (var l = 0; l < 16; l++)
                r[l] = (acc[0, l] + acc[2, l]) + (acc[1, l] + acc[3, l]);
            sum = ReduceAdd16(r);
        }
        for (var i = np; i < n; i++)
            sum += x[i] * y[i];
        return (float)sum;
    }

    private static float[] Halves(Random random, int n, double scale) =>
        Enumerable.Range(0, n).Select(_ => (float)(Half)((random.NextDouble() * 2 - 1) * scale)).ToArray();

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(80)]
    [InlineData(128)]
    public void Scores_FollowGgmlVecDotF16(int d)
    {
        var random = new Random(d);
        for (var trial = 0; trial < 50; trial++)
        {
            var x = Halves(random, d, 4);
            var y = Halves(random, d, 4);
            Assert.Equal(BitConverter.SingleToInt32Bits(VecDotF16(x, y)), BitConverter.SingleToInt32Bits(FloatKernels.DotF16(x, y)));
        }
    }

    [Theory]
    [InlineData(32, 5, false)]
    [InlineData(64, 33, false)]
    [InlineData(64, 64, false)]
    [InlineData(64, 130, false)]
    [InlineData(128, 70, false)]
    [InlineData(80, 100, false)]
    [InlineData(32, 5, true)]
    [InlineData(64, 33, true)]
    [InlineData(64, 130, true)]
    [InlineData(128, 70, true)]
    [InlineData(80, 100, true)]
    public void ValueSums_FollowGgmlOrTinyBlas_OverThePaddedCells(int d, int visible, bool prompt)
    {
        var random = new Random(d * 1000 + visible);
        var v = Halves(random, visible * d, 2);
        var p = Halves(random, visible, 0.1).Select(Math.Abs).ToArray();
        var output = new float[d];
        if (prompt)
            FloatKernels.ValuesF16TinyBlas(p, v, d, output, new float[64 * d]);
        else
            FloatKernels.ValuesF16(p, v, d, output, new float[64 * d]);

        var padded = (visible + 31) & ~31;
        for (var c = 0; c < d; c++)
        {
            var column = new float[padded];
            var probabilities = new float[padded];
            for (var j = 0; j < visible; j++)
            {
                column[j] = v[j * d + c];
                probabilities[j] = p[j];
            }
            var expected = prompt ? TinyBlasDot(column, probabilities) : VecDotF16(column, probabilities);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(output[c]));
        }
    }

    /// <summary>llamafile's tinyBLAS (AVX-512): one accumulator of 16 lanes, element i into lane i % 16 (fused), then the reduce-add tree.</summary>
    private static float TinyBlasDot(float[] x, float[] y)
    {
        var lanes = new float[16];
        for (var i = 0; i < x.Length; i++)
            lanes[i % 16] = MathF.FusedMultiplyAdd(x[i], y[i], lanes[i % 16]);
        return ReduceAdd16(lanes);
    }

    /// <summary>_mm512_reduce_add_ps: lane i + 8 onto i, i + 4 onto i, then (0 + 2) + (1 + 3).</summary>
    private static float ReduceAdd16(float[] r)
    {
        var h = new float[8];
        for (var i = 0; i < 8; i++)
            h[i] = r[i + 8] + r[i];
        var q = new float[4];
        for (var i = 0; i < 4; i++)
            q[i] = h[i + 4] + h[i];
        return (q[0] + q[2]) + (q[1] + q[3]);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(128)]
    public void PromptScores_FollowTinyBlas(int d)
    {
        var random = new Random(d + 7);
        var differ = 0;
        for (var trial = 0; trial < 200; trial++)
        {
            var x = Halves(random, d, 4);
            var y = Halves(random, d, 4);
            var expected = TinyBlasDot(x, y);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(FloatKernels.DotF16TinyBlas(x, y)));
            if (d >= 64 && BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(VecDotF16(x, y)))
                differ++;
        }
        // The two orders are different functions: where both sum in float, some products round apart.
        Assert.True(d < 64 || differ > 0, "tinyBLAS's order never differed from ggml_vec_dot_f16's");
    }
}
